"""The embed snippet a business puts on its own website: ``<script src="…" async>``
adds a button that opens one of our public pages in a window of its own (a chat, a paid
meeting's registration), or goes there when the browser blocks the window. The page runs
on our origin, so the site never handles a card.

``inline`` puts the button where the script tag stands (a "Register" button in the page's
text) instead of in the bottom right-hand corner (the chat's).
"""

from __future__ import annotations

import json

from fastapi.responses import Response

_SCRIPT = """(function () {
  var url = %(url)s, label = %(label)s, name = %(name)s, inline = %(inline)s;
  var here = document.currentScript;
  var b = document.createElement("button");
  b.type = "button"; b.textContent = label; b.setAttribute("aria-label", label);
  b.style.cssText = (inline ? "" : "position:fixed;right:20px;bottom:20px;z-index:2147483647;") +
    "padding:12px 18px;border:0;border-radius:24px;background:#2456d6;color:#fff;" +
    "font:600 15px system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.2);cursor:pointer";
  b.onclick = function () {
    var w = window.open(url, name, "width=480,height=760");
    if (!w) { location.href = url; }
  };
  if (inline && here && here.parentNode) { here.parentNode.insertBefore(b, here.nextSibling); }
  else { document.body.appendChild(b); }
})();
"""


def embed_script(url: str, label: str, *, window: str, inline: bool = False) -> Response:
    body = _SCRIPT % {"url": json.dumps(url), "label": json.dumps(label),
                      "name": json.dumps(window), "inline": json.dumps(inline)}  # fmt: skip
    return Response(body, media_type="text/javascript",
                    headers={"Cache-Control": "max-age=300"})  # fmt: skip
