"""The victim portal's pages (``/``): server-rendered HTML over ``takeback.portal``, hashing in her
browser (``static/js``), no request to any other host, no cookie but the short sign-in one."""
