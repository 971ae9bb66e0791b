"""The victim portal's domain: hash submissions, case number + PIN, status, withdrawal, the
evidence log and encrypted evidence (ciphertext only). The web pages are in ``takeback.web.portal``."""
