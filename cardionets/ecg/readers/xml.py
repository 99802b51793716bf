"""Safe XML parsing shared by the vendor XML readers.

defusedxml refuses entity declarations (billion-laughs bombs) and external entities (file or network reads);
DOCTYPE lines alone are allowed because real GE MUSE exports carry one. Namespaces are stripped so readers can
match on local names ("series", not "{urn:hl7-org:v3}series").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from ..errors import CorruptFileError, FileTooLargeError
from .bounds import check_text_size

# Real ECG XML has a few hundred elements, 4 to 12 deep. A tree of millions, or nesting millions deep, costs
# gigabytes and tens of seconds to build, so parsing stops past these bounds (and bounds.MAX_TEXT_BYTES).
MAX_ELEMENTS = 200_000
MAX_DEPTH = 100
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
    check_text_size(data, f"This {format_name} file")
    if data.count(b"<") > 2 * MAX_ELEMENTS + 10_000:  # every element opens (and most close) with "<"
        raise _too_many_elements(format_name)
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
    except _TreeTooLarge as error:
        if error.args[0] == "deep":
            raise FileTooLargeError(f"This {format_name} file nests its elements over {MAX_DEPTH} deep; real ECG "
                                    "files nest about ten deep, so it is damaged or crafted.") from None
        raise _too_many_elements(format_name) from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
        for key in [k for k in element.attrib if "}" in k]:
            element.attrib[key.split("}", 1)[1]] = element.attrib.pop(key)
    return root


def _parse(document: bytes | str) -> ET.Element:
    parser = DefusedXMLParser(target=_BoundedTreeBuilder(), forbid_dtd=False, forbid_entities=True,
                              forbid_external=True)
    parser.feed(document)
    return parser.close()


class _TreeTooLarge(Exception):
    """Raised inside the parser's callbacks, which stops it at once."""


class _BoundedTreeBuilder(ET.TreeBuilder):
    """ElementTree's tree builder, stopping past MAX_ELEMENTS elements or MAX_DEPTH levels."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._count = 0

    def start(self, tag, attrs):
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH:
            raise _TreeTooLarge("deep")
        if self._count > MAX_ELEMENTS:
            raise _TreeTooLarge("many")
        return super().start(tag, attrs)

    def end(self, tag):
        self._depth -= 1
        return super().end(tag)


def _too_many_elements(format_name: str) -> FileTooLargeError:
    return FileTooLargeError(f"This {format_name} file holds over {MAX_ELEMENTS:,} XML elements; a real ECG file "
                             "holds a few hundred, so it is damaged or crafted.")


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
