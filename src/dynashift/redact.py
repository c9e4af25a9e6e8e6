"""The one place a secret is taken out of text before it is shown, logged or stored: the password
of a URI (`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`) and secret-looking
query parameters (`?password=…`, `sslpassword=…`, `aws_secret_access_key=…`). Used for every
source or target URI that status, report, doctor, logs, error lines or dynashift.runs show."""

from __future__ import annotations

import re

# scheme://user:password@  (the password may hold anything but @ and whitespace; the user no : / @)
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*):[^@\s\"']*@")
# key=value in a query string or a libpq keyword string, for keys that name a secret
_SECRET_PARAM = re.compile(r"(?i)\b((?:ssl)?password|passwd|pwd|secret|[a-z_]*secret_access_key|[a-z_]*session_token"
                           r"|token)=([^&\s\"']*)")


def mask(text: str) -> str:
    """`text` with every URI password and secret parameter replaced by ***."""
    if not text:
        return text
    text = _USERINFO.sub(r"\1:***@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
