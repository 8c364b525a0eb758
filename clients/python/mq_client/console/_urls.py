"""The console's URLs of queues, streams and exchanges."""
from urllib.parse import quote, urlencode


def href(kind: str, name: str, action: str = "") -> str:
    """The URL of a queue's, stream's or exchange's page (kind ``queues``,
    ``streams``, ``exchanges``), or of an action on it.  Browsers resolve
    the path segments ``.`` and ``..`` (percent-encoded too) before
    sending a request: such names go in the query."""
    if name in (".", ".."):
        query = {"name": name, "action": action} if action else {"name": name}
        return f"/{kind}/?" + urlencode(query)
    return f"/{kind}/{quote(name, safe='')}" + (f"/{action}" if action else "")
