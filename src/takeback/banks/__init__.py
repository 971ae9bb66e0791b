"""Hash banks: named lists of fingerprints of known content, with per-bank matching policy.

``models`` holds the tables, ``service`` the curation rules (every change audited and, where an
index must follow, logged in ``bank_change``), ``transfer`` the export/import file formats.
"""

from takeback.banks.models import DEFAULT_PDQ_THRESHOLD, MAX_PDQ_THRESHOLD, Bank, BankContent, ContentSignal
from takeback.banks.service import BankError, ImportFileError, NewContent

__all__ = [
    "DEFAULT_PDQ_THRESHOLD",
    "MAX_PDQ_THRESHOLD",
    "Bank",
    "BankContent",
    "BankError",
    "ContentSignal",
    "ImportFileError",
    "NewContent",
]
