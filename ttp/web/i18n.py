"""Dutch and English for the pages: English text is the key, Dutch its translation; Accept-Language default."""

from __future__ import annotations

LANGUAGES = ("nl", "en")
DEFAULT = "nl"

NL = {
    "ttp — trusted third party": "ttp — vertrouwde derde partij",
    "Skip to content": "Naar de inhoud",
    "Sign in": "Inloggen",
    "Sign out": "Uitloggen",
    "User name": "Gebruikersnaam",
    "Password": "Wachtwoord",
    "Sign-in failed, or too many attempts: wait a while and try again.":
        "Inloggen mislukt, of te veel pogingen: wacht even en probeer het opnieuw.",
    "Signed in as": "Ingelogd als",
    "Language": "Taal",
    "Home": "Start",
    "operator": "beheerder",
    "privacy-officer": "privacyfunctionaris",
    "researcher": "onderzoeker",
    "school": "school",
    "Feedback": "Terugkoppeling",
    "The feedback report of your school: its figures beside its board, its municipality and the province, over "
    "the cohorts, made from approved, released tables only.":
        "Het terugkoppelingsrapport van uw school: haar cijfers naast die van uw bestuur, uw gemeente en de "
        "provincie, over de cohorten, alleen uit goedgekeurde, vrijgegeven tabellen.",
    "School": "School",
    "Place": "Plaats",
    "Report": "Rapport",
    "Download the report (PDF)": "Rapport downloaden (pdf)",
    "No feedback round shows this school yet.": "Nog geen terugkoppelingsronde toont deze school.",
    "Feedback rounds": "Terugkoppelingsrondes",
    "Round of": "Ronde van",
    "current": "huidige",
    "New request": "Nieuwe aanvraag",
    "My requests": "Mijn aanvragen",
    "Requests": "Aanvragen",
    "Queue": "Wachtrij",
    "Audit log": "Auditlog",
    "Verification": "Verificatie",
    "Checkpoint": "Checkpoint",
    "Batches": "Batches",
    "Link jobs": "Koppeltaken",
    "Releases to make": "Te maken vrijgaven",
    "Policy": "Beleid",
    "Purpose": "Doel",
    "Population": "Populatie",
    "Dimensions": "Dimensies",
    "Measures": "Maten",
    "Filters": "Filters",
    "Check against the policy": "Toetsen aan het beleid",
    "Submit request": "Aanvraag indienen",
    "Policy check": "Beleidstoets",
    "Passes the policy": "Voldoet aan het beleid",
    "Does not pass the policy": "Voldoet niet aan het beleid",
    "Problems": "Problemen",
    "Together with earlier releases": "Samen met eerdere vrijgaven",
    "Cannot be released as asked": "Kan niet worden vrijgegeven zoals gevraagd",
    "Can be released together with every earlier release": "Kan samen met alle eerdere vrijgaven worden vrijgegeven",
    "Earlier releases that add suppressions": "Eerdere vrijgaven die extra onderdrukking vragen",
    "Status": "Status",
    "Created": "Aangemaakt",
    "Decided by": "Besloten door",
    "Reason": "Reden",
    "Release": "Vrijgave",
    "Download": "Downloaden",
    "Files": "Bestanden",
    "Metadata": "Metadata",
    "Request": "Aanvraag",
    "Requester": "Aanvrager",
    "No requests yet.": "Nog geen aanvragen.",
    "Nothing waiting.": "Er wacht niets.",
    "Approve": "Goedkeuren",
    "Deny": "Afwijzen",
    "Your own request: another privacy officer decides.": "Uw eigen aanvraag: een andere privacyfunctionaris beslist.",
    "Suppression preview": "Voorbeeld van onderdrukking",
    "cells": "cellen",
    "suppressed": "onderdrukt",
    "Cell": "Cel",
    "Preview not available": "Voorbeeld niet beschikbaar",
    "Make release": "Vrijgave maken",
    "Actor": "Actor",
    "Role": "Rol",
    "Action": "Actie",
    "Object": "Object",
    "Since": "Vanaf",
    "Until": "Tot en met",
    "Filter": "Filteren",
    "Outcome": "Uitkomst",
    "Time": "Tijd",
    "events": "gebeurtenissen",
    "Export for an external auditor": "Export voor een externe auditor",
    "Verify the whole log": "Het hele log verifiëren",
    "The audit log verifies": "Het auditlog klopt",
    "The audit log DOES NOT verify": "Het auditlog klopt NIET",
    "Latest signed checkpoint": "Laatste ondertekende checkpoint",
    "No checkpoint yet.": "Nog geen checkpoint.",
    "Source": "Bron",
    "Rows read": "Rijen gelezen",
    "Accepted": "Geaccepteerd",
    "Quarantined": "In quarantaine",
    "Key version": "Sleutelversie",
    "Quarantine summary": "Samenvatting quarantaine",
    "Rows": "Rijen",
    "Records": "Records",
    "Persons": "Personen",
    "Links": "Koppelingen",
    "Reviews": "Beoordelingen",
    "Quality report": "Kwaliteitsrapport",
    "Clerical review": "Handmatige beoordeling",
    "Pair": "Paar",
    "Pattern": "Patroon",
    "Weight": "Gewicht",
    "Probability": "Kans",
    "Decision": "Besluit",
    "Accept": "Accepteren",
    "Reject": "Verwerpen",
    "Pairs by pattern": "Paren per patroon",
    "open": "open",
    "Links per source pair": "Koppelingen per bronpaar",
    "Error": "Fout",
    "Not allowed for your role.": "Niet toegestaan voor uw rol.",
    "Not found.": "Niet gevonden.",
    "The form expired; please try again.": "Het formulier is verlopen; probeer het opnieuw.",
    "Back": "Terug",
    "Open the report on its own page": "Het rapport op een eigen pagina openen",
    "Released tables are aggregates that passed disclosure control.":
        "Vrijgegeven tabellen zijn aggregaten die door de onthullingscontrole kwamen.",
    "Decide": "Besluiten",
    "File": "Bestand",
    "Size (bytes)": "Grootte (bytes)",
    "Welcome": "Welkom",
    "Choose at most": "Kies er hoogstens",
    "Minimum cell count": "Minimale celvulling",
    "approved": "goedgekeurd",
    "denied": "afgewezen",
    "released": "vrijgegeven",
    "checked": "getoetst",
    "submitted": "ingediend",
    "withdrawn": "ingetrokken",
    "values, separated by commas": "waarden, gescheiden door komma's",
    "Comparison groups": "Vergelijkingsgroepen",
    "One table per group; a group without a filter is the whole population.":
        "Eén tabel per groep; een groep zonder filter is de hele populatie.",
    "Group": "Groep",
    "dimension": "dimensie",
    "whole population": "hele populatie",
    "Pool school years": "Schooljaren samennemen",
    "A small school gets a figure for several years together.":
        "Een kleine school krijgt een cijfer voor enkele jaren samen.",
    "no pooling": "niet samennemen",
    "years": "jaren",
}


def pick(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch's cookie, else the best of Accept-Language, else Dutch."""
    if cookie in LANGUAGES:
        return cookie
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang in LANGUAGES and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best else DEFAULT


def translator(lang: str):
    """The `_` of the templates for one language."""
    if lang == "nl":
        return lambda text: NL.get(text, text)
    return lambda text: text
