"""The three roles and which of them may run each acting command."""

OPERATOR = "operator"
PRIVACY_OFFICER = "privacy-officer"
RESEARCHER = "researcher"
ROLES = (OPERATOR, PRIVACY_OFFICER, RESEARCHER)
