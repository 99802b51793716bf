"""Safe XML parsing shared by the vendor XML readers.

defusedxml refuses entity declarations (billion-laughs bombs) and external entities (file or network reads);
DOCTYPE lines alone are allowed because real GE MUSE exports carry one. Namespaces are stripped so readers can
match on local names ("series", not "{urn:hl7-org:v3}series").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml
from defusedxml.ElementTree import fromstring

from ..errors import CorruptFileError

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_ROOT_TAG = re.compile(rb"<(?![?!])(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def xml_root_name(data: bytes) -> str | None:
    """The root element's local name, read from the first 4 kB without parsing; None if not XML-like."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return None
    # Skip the declaration, comments and DOCTYPE, then take the first element's name.
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.DOTALL)
    match = _ROOT_TAG.search(body)
    return match.group(1).decode("ascii") if match else None


def parse_xml(data: bytes, format_name: str) -> ET.Element:
    """Parse untrusted XML into an element tree with namespace prefixes removed."""
    try:
        try:
            root = _parse(data)
        except ET.ParseError:
            # Carts often declare UTF-8 but write patient names in Latin-1; Latin-1 decodes any byte, so retry
            # with it (declaration removed so the parser takes the text as already decoded).
            root = _parse(_XML_DECLARATION.sub("", data.decode("latin-1"), count=1))
    except defusedxml.DefusedXmlException as error:
        raise CorruptFileError(
            f"This {format_name} file declares XML entities, which CardioNets refuses for safety "
            f"({type(error).__name__})."
        ) from error
    except ET.ParseError as error:
        raise CorruptFileError(f"This {format_name} file is not well-formed XML ({error}).") from error
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
        for key in [k for k in element.attrib if "}" in k]:
            element.attrib[key.split("}", 1)[1]] = element.attrib.pop(key)
    return root


def _parse(document: bytes | str) -> ET.Element:
    return fromstring(document, forbid_dtd=False, forbid_entities=True, forbid_external=True)


def child_text(element: ET.Element | None, path: str, default: str | None = None) -> str | None:
    """Stripped text at ``path`` below ``element``, or ``default`` when absent or empty."""
    if element is None:
        return default
    found = element.find(path)
    if found is None or found.text is None or not found.text.strip():
        return default
    return found.text.strip()


def to_float(text: str | None) -> float | None:
    """A number from vendor text ("72", "72.0 ms", "  -15 "), or None."""
    if text is None:
        return None
    match = re.search(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)
    return float(match.group(0)) if match else None
