"""The three roles and which of them may run each acting command."""

OPERATOR = "operator"
PRIVACY_OFFICER = "privacy-officer"
RESEARCHER = "researcher"
ROLES = (OPERATOR, PRIVACY_OFFICER, RESEARCHER)
PENDING = "pending"  # a user whose privacy-officer role waits for another officer's approval: no rights yet
