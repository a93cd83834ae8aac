"""Retrieval evaluation sets built from documentation on this machine, judged by its own authors.

Two sets, each a corpus folder plus ``queries.jsonl`` (one ``{"id", "query", "relevant"}`` object a
line; ``relevant`` lists document paths relative to the corpus folder):

- ``cargo-book``: the Cargo book (mdBook HTML) shipped with the Rust toolchain. Queries are the
  question headings of ``faq.html`` and the terms of ``appendix/glossary.html``; the relevant pages
  are the Cargo book pages that the answer (or the definition) links to, so the judgments are the
  book authors' own links. A glossary term whose definition is only "See <other term>" takes that
  term's links. The corpus is every content page, kept as raw HTML (mdBook's sidebar, menu bar and
  scripts included); the two query source pages, ``print.html`` / ``toc.html`` / ``404.html``,
  redirect stubs and pure navigation pages (a ``<main>`` that is mostly links) are left out.
- ``gnu-manuals``: GNU Info manuals from ``/usr/share/info`` (coreutils, grep, sed, find, ...).
  Every node except ``Top``, index nodes, menu-only nodes and licence boilerplate becomes
  ``<manual>/<node slug>.md`` (``# <node name>``, then the node's text with the header line removed
  and ``*Note X::`` cross-references turned into plain text). Queries are the entries of the
  manuals' concept (general) indexes: the entry is the query, the node it points to the relevant
  page; ``<1>``, ``<2>`` repeats, permutations ("HTML comments", "comments, HTML") and the same
  entry in several manuals merge into one query.
  Only natural-language entries are kept (two words or more, no option names, environment
  variables or identifiers), and at most 300: taken round-robin over the manuals, each in hash
  order, so every manual with a concept index gets an equal share. Placeholder nodes ("TODO")
  are left out too; manuals without a concept index (bc, ed, find, ...) only add documents.

Everything is sorted or ordered by a hash, so a rebuild from the same sources gives the same files.
The queries are also copied to ``bench/evalsets/<set>.jsonl`` (committed, for review).

Usage:
    .venv/bin/python bench/evalsets.py build [--out .cache/evalsets]
    .venv/bin/python bench/evalsets.py list
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import posixpath
import re
import shutil
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / ".cache" / "evalsets"
COMMITTED = REPO / "bench" / "evalsets"

CARGO_BOOK = Path("/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/cargo")
INFO_DIR = Path("/usr/share/info")

# ---------------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One evaluation query: its text and the corpus-relative paths of the relevant documents."""

    id: str
    query: str
    relevant: tuple[str, ...]

    def to_json(self) -> str:
        """The query as one JSON line (without the newline)."""
        return json.dumps(
            {"id": self.id, "query": self.query, "relevant": list(self.relevant)}, ensure_ascii=False
        )


@dataclass(frozen=True)
class EvalSet:
    """A built set: documents (corpus-relative path → bytes) and queries."""

    name: str
    documents: dict[str, bytes]
    queries: list[Query]


def _normalize_space(text: str) -> str:
    return " ".join(text.split())


def slugify(text: str) -> str:
    """A lowercase ASCII file-name slug ("sort invocation" → "sort-invocation", "C++" → "cplusplus")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("++", "plusplus").replace("+", "plus").replace("#", "sharp")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "node"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Set 1: the Cargo book
# ---------------------------------------------------------------------------------------------------

#: Pages that are query sources, aggregates of all pages or pure navigation, by name.
CARGO_EXCLUDED = frozenset({"faq.html", "appendix/glossary.html", "print.html", "toc.html", "404.html"})
#: A page whose ``<main>`` text is at least this share link text is a table of contents.
NAV_LINK_SHARE = 0.6

_META_REFRESH = re.compile(
    r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*URL=([^"']+)["']""", re.IGNORECASE
)


def find_cargo_book() -> Path | None:
    """The Cargo book of the stable toolchain, else of any rustup toolchain, else None."""
    if (CARGO_BOOK / "faq.html").is_file():
        return CARGO_BOOK
    for candidate in sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html/cargo")):
        if (candidate / "faq.html").is_file():
            return candidate
    return None


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")


def _is_navigation(soup: BeautifulSoup) -> bool:
    """True for a page without a ``<main>`` (redirect stubs, toc) or whose main part is a link list."""
    main = soup.find("main")
    if not isinstance(main, Tag):
        return True
    text = len(main.get_text(" ", strip=True))
    links = sum(len(a.get_text(" ", strip=True)) for a in main.find_all("a"))
    return text == 0 or links / text >= NAV_LINK_SHARE


def _resolve_href(page: str, href: str) -> str | None:
    """The book-relative .html path an ``href`` on ``page`` points to (no fragment), or None.

    None for links to other sites, absolute paths, in-page anchors and pages outside the book.
    """
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path)))
    if target.startswith("../") or target == ".." or not target.endswith(".html"):
        return None
    return target


class _CargoBook:
    """The Cargo book's pages, redirect stubs and corpus pages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
        self.redirects: dict[str, str] = {}
        self.corpus: list[str] = []
        for page in self.pages:
            raw = (root / page).read_text(encoding="utf-8")
            refresh = _META_REFRESH.search(raw[:2000])
            if refresh:
                target = _resolve_href(page, refresh.group(1))
                if target is not None:
                    self.redirects[page] = target
                continue
            if page in CARGO_EXCLUDED or _is_navigation(BeautifulSoup(raw, "lxml")):
                continue
            self.corpus.append(page)
        self._in_corpus = frozenset(self.corpus)

    def target(self, page: str, href: str) -> str | None:
        """The corpus page a link on ``page`` leads to (following redirect stubs), or None."""
        target = _resolve_href(page, href)
        seen: set[str] = set()
        while target in self.redirects and target not in seen:
            seen.add(target)
            target = self.redirects[target]
        if target is None or target == page or target not in self._in_corpus:
            return None
        return target


def _sections(main: Tag, levels: Sequence[str]) -> Iterator[tuple[Tag, list[Tag]]]:
    """Each heading of ``levels`` under ``main`` with the elements up to the next such heading."""
    heading: Tag | None = None
    body: list[Tag] = []
    for child in main.children:
        if not isinstance(child, Tag):
            continue
        if child.name in levels:
            if heading is not None:
                yield heading, body
            heading, body = child, []
        elif heading is not None:
            body.append(child)
    if heading is not None:
        yield heading, body


def _links(body: Iterable[Tag]) -> list[str]:
    hrefs: list[str] = []
    for element in body:
        if element.name == "a" and element.get("href"):
            hrefs.append(str(element["href"]))
        hrefs.extend(str(a["href"]) for a in element.find_all("a", href=True))
    return hrefs


def _heading_text(heading: Tag) -> str:
    return _normalize_space(heading.get_text())


def _faq_queries(book: _CargoBook) -> list[Query]:
    """One query per question heading (h2/h3) of faq.html: the pages its answer links to."""
    page = "faq.html"
    main = _soup(book.root / page).find("main")
    assert isinstance(main, Tag), "faq.html has no <main>"
    queries = []
    for heading, body in _sections(main, ("h2", "h3")):
        relevant = {t for href in _links(body) if (t := book.target(page, href)) is not None}
        if relevant:
            anchor = str(heading.get("id") or slugify(_heading_text(heading)))
            queries.append(Query(f"faq-{anchor}", _heading_text(heading), tuple(sorted(relevant))))
    return queries


def _glossary_queries(book: _CargoBook) -> list[Query]:
    """One query per glossary term: the pages its definition links to.

    A definition that only says "See <term>" (an in-page link) takes that term's pages.
    """
    page = "appendix/glossary.html"
    main = _soup(book.root / page).find("main")
    assert isinstance(main, Tag), "glossary.html has no <main>"
    terms: dict[str, tuple[str, set[str], str | None]] = {}  # anchor → (term, pages, "see" anchor)
    for heading, body in _sections(main, ("h2", "h3")):
        hrefs = _links(body)
        pages = {t for href in hrefs if (t := book.target(page, href)) is not None}
        text = _normalize_space(" ".join(element.get_text(" ", strip=True) for element in body))
        see = None
        if text.startswith("See ") and len(hrefs) == 1 and hrefs[0].startswith("#"):
            see = hrefs[0][1:]
        anchor = str(heading.get("id") or slugify(_heading_text(heading)))
        terms[anchor] = (_heading_text(heading), pages, see)
    queries = []
    for anchor, (term, pages, see) in terms.items():
        seen = {anchor}
        while not pages and see is not None and see in terms and see not in seen:
            seen.add(see)
            _, pages, see = terms[see]
        if pages:
            queries.append(Query(f"glossary-{anchor}", term, tuple(sorted(pages))))
    return queries


def build_cargo_book(root: Path) -> EvalSet:
    """The ``cargo-book`` set from the Cargo book at ``root``."""
    book = _CargoBook(root)
    documents = {page: (root / page).read_bytes() for page in book.corpus}
    queries = _faq_queries(book) + _glossary_queries(book)
    return EvalSet("cargo-book", documents, sorted(queries, key=lambda q: q.id))


# ---------------------------------------------------------------------------------------------------
# Set 2: GNU Info manuals
# ---------------------------------------------------------------------------------------------------

#: User manuals used when present (left out: find-maint, dir and the library manuals such as
#: libffi, nettle, libtasn1, gpgrt and autosprintf).
GNU_MANUALS = (
    "bc",
    "bzip2",
    "coreutils",
    "diffutils",
    "ed",
    "find",
    "gettext",
    "gnupg",
    "grep",
    "gzip",
    "rluserman",
    "sed",
    "time",
    "wget",
)
MAX_GNU_QUERIES = 300
#: A node with a menu and less prose than this outside its title and menu is a menu only.
MENU_ONLY_WORDS = 20
#: A node with less prose than this is a placeholder ("TODO", "TO BE WRITTEN.").
STUB_WORDS = 4

_INDEX_COOKIE = "\x00\x08[index\x00\x08]"
_COOKIE = re.compile(r"\x00\x08\[[^\x00]*\x00\x08\]")
_INFO_FILE = re.compile(r"^(?P<manual>.+?)\.info(?:-(?P<part>\d+))?\.gz$")
_NODE_HEADER = re.compile(r"^File: [^,]*,\s+Node:\s*(?P<node>.+?)\s*(?:,\s+(?:Next|Prev|Up):.*)?$")
_CONCEPT_INDEX = re.compile(r"^(?:concept index|index|general index)$", re.I)
_LICENCE_NODE = re.compile(
    r"^(?:GNU Free Documentation License|GNU (?:Lesser )?General Public License|GNU (?:L?GPL|FDL)"
    r"|Copying This Manual|Licenses)$",
    re.I,
)
_UNDERLINE = re.compile(r"^([*=.-])\1{2,}$")
_NOTE_SHORT = re.compile(r"\*([Nn])ote(\s+)([^:*]+?)::")
_NOTE_LONG = re.compile(r"\*([Nn])ote(\s+)([^:*]+?):\s+(?:\([^)\s]*\))?[^.,:*]*?([.,])")
_INDEX_LINE = re.compile(r"^\* (?P<rest>.+?)\.\s+\(line\s+\d+\)\s*$")
_REPEAT = re.compile(r"\s*<\d+>$")
_PERSON = re.compile(r"^[A-Z][\w'’-]+, (?:[A-Z]\.|[A-Z][a-z]+)(?: [A-Z]\.)*$")
_ENV_VAR = re.compile(r"\b[A-Z][A-Z0-9]+ environment variable")
_GENERIC = frozenset(
    {"capability", "command", "file", "flag", "function", "macro", "option", "program", "variable"}
)


@dataclass(frozen=True)
class InfoNode:
    """One node of an Info manual: name, text (header line removed) and whether it is an index."""

    manual: str
    name: str
    text: str

    @property
    def is_index(self) -> bool:
        """True for an index node (makeinfo marks them with an ``[index]`` cookie)."""
        return _INDEX_COOKIE in self.text


def info_manuals(info_dir: Path) -> dict[str, list[Path]]:
    """The Info files of each manual of :data:`GNU_MANUALS` found in ``info_dir``, in part order."""
    parts: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for path in info_dir.glob("*.gz"):
        match = _INFO_FILE.match(path.name)
        if match and match["manual"] in GNU_MANUALS:
            parts[match["manual"]].append((int(match["part"] or 0), path))
    return {manual: [path for _, path in sorted(parts[manual])] for manual in sorted(parts)}


def parse_info(manual: str, paths: Sequence[Path]) -> list[InfoNode]:
    """The nodes of a manual, in file order (indirect tables, tag tables and preambles skipped)."""
    nodes = []
    for path in paths:
        raw = gzip.decompress(path.read_bytes())
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            content = raw.decode("latin-1")
        for chunk in content.split("\x1f")[1:]:
            chunk = chunk.lstrip("\n\x0c")
            header, _, text = chunk.partition("\n")
            match = _NODE_HEADER.match(header)
            if match:
                nodes.append(InfoNode(manual, match["node"], text.strip("\n")))
    return nodes


def _strip_xrefs(text: str) -> str:
    """``*Note Node::`` and ``*note Label: (manual)Node.`` as plain "See Node" / "see Label."."""

    def see(match: re.Match[str]) -> str:  # the label keeps its line breaks
        if re.search(r"\bsee\s*$", match.string[max(0, match.start() - 5) : match.start()], re.IGNORECASE):
            return match[3]  # "see *note X::" reads "see X"
        return ("See" if match[1] == "N" else "see") + match[2] + match[3]

    text = _NOTE_SHORT.sub(see, text)
    return _NOTE_LONG.sub(lambda m: see(m) + m[4], text)


def _markdown_lines(text: str) -> list[str]:
    """Info text with underlined titles turned into ``##`` headings and cookies removed."""
    lines = _COOKIE.sub("", text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line.strip()
            and not line[0].isspace()
            and _UNDERLINE.match(nxt)
            and abs(len(nxt) - len(line.rstrip())) <= 2
        ):
            out.append("## " + line.strip())
            i += 2
            continue
        out.append(line.rstrip())
        i += 1
    return out


def _prose_words(text: str) -> int:
    """Words of a node outside its titles and its menu."""
    words = 0
    for line in _markdown_lines(text):
        if line.startswith("* Menu:"):
            break
        if not line.startswith("## "):
            words += len(line.split())
    return words


def node_markdown(node: InfoNode) -> str:
    """The Markdown document of a node: ``# <node name>`` and its text."""
    body = "\n".join(_markdown_lines(_strip_xrefs(node.text))).strip("\n")
    body = re.sub(r"\n{3,}", "\n\n", body)
    return f"# {node.name}\n\n{body}\n"


def _is_menu_only(node: InfoNode) -> bool:
    """True for a node that is (next to) nothing but a menu, or a placeholder."""
    words = _prose_words(node.text)
    return words < STUB_WORDS or ("\n* Menu:" in "\n" + node.text and words < MENU_ONLY_WORDS)


def _is_corpus_node(node: InfoNode) -> bool:
    return not (node.name == "Top" or node.is_index or _LICENCE_NODE.match(node.name) or _is_menu_only(node))


def is_concept(entry: str) -> bool:
    """True for an index entry that reads as a natural-language concept (not an option, variable, ...)."""
    words = entry.replace(",", " ").split()
    if len(words) < 2 or entry.startswith("-") or "_" in entry:
        return False
    if _ENV_VAR.search(entry) or _PERSON.match(entry):
        return False
    # "kde-format flag", "POTFILES.in file", "LINGUAS file", "hd capability": an identifier and a noun.
    generic = len(words) == 2 and words[1].lower() in _GENERIC
    if generic and (not re.fullmatch(r"[a-z]+", words[0]) or len(words[0]) <= 2):
        return False
    return sum(1 for word in words if re.search(r"[A-Za-z]{2}", word)) >= 2


def entry_key(entry: str) -> str:
    """What makes two index entries the same query: their words, case and order ignored.

    Indexes list a concept under each of its words ("HTML comments", "comments, HTML"); the key
    merges such permutations (and the same entry in several manuals) into one query.
    """
    return " ".join(sorted(re.findall(r"[^\s,;]+", entry.casefold())))


def index_entries(index: InfoNode, node_names: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(entry text without ``<n>``, node name) for each entry of an index node's menu.

    An entry line is ``* TEXT: NODE.  (line N)``, wrapped before ``(line N)`` when long; the split
    between TEXT and NODE is the first ``: `` after which a node of the manual follows.
    """
    names = frozenset(node_names)
    menu = index.text.split("* Menu:", 1)[-1]
    menu = re.sub(r"\n\s+(\(line\s+\d+\))", r" \1", menu)
    for line in menu.split("\n"):
        match = _INDEX_LINE.match(line)
        if not match:
            continue
        rest = match["rest"]
        for colon in re.finditer(r":\s+", rest):
            node = rest[colon.end() :].strip()
            if node in names:
                yield _REPEAT.sub("", rest[: colon.start()]).strip(), node
                break


def _node_paths(nodes: Sequence[InfoNode]) -> dict[str, str]:
    """Corpus path (``<manual>/<slug>.md``) of each corpus node, slugs made unique in node order."""
    paths: dict[str, str] = {}
    used: set[str] = set()
    for node in nodes:
        if not _is_corpus_node(node) or node.name in paths:
            continue
        slug = base = slugify(node.name)
        n = 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        paths[node.name] = f"{node.manual}/{slug}.md"
    return paths


def _spread_sample(groups: dict[str, list[str]], limit: int) -> list[str]:
    """Round-robin over the groups (in name order, each already in hash order) up to ``limit``."""
    picked: list[str] = []
    queues = {name: list(keys) for name, keys in sorted(groups.items())}
    while len(picked) < limit and any(queues.values()):
        for name in list(queues):
            if queues[name] and len(picked) < limit:
                picked.append(queues[name].pop(0))
    return picked


def build_gnu_manuals(info_dir: Path, limit: int = MAX_GNU_QUERIES) -> EvalSet:
    """The ``gnu-manuals`` set from the Info manuals in ``info_dir``."""
    documents: dict[str, bytes] = {}
    spellings: dict[str, set[str]] = defaultdict(set)  # entry key → its spellings
    relevant: dict[str, set[str]] = defaultdict(set)
    home: dict[str, str] = {}  # entry key → manual it was first seen in
    for manual, files in info_manuals(info_dir).items():
        nodes = parse_info(manual, files)
        paths = _node_paths(nodes)
        by_name = {node.name: node for node in nodes}
        for name, path in paths.items():
            documents[path] = node_markdown(by_name[name]).encode("utf-8")
        for index in nodes:
            if not (index.is_index and _CONCEPT_INDEX.match(index.name)):
                continue
            for entry, node in index_entries(index, by_name):
                if node not in paths or not is_concept(entry):
                    continue
                key = entry_key(entry)
                spellings[key].add(_normalize_space(entry))
                home.setdefault(key, manual)
                relevant[key].add(paths[node])
    # The spelling with the fewest commas ("HTML comments" over "comments, HTML"), then the first.
    texts = {key: min(forms, key=lambda form: (form.count(","), form)) for key, forms in spellings.items()}
    groups: dict[str, list[str]] = defaultdict(list)
    for key in sorted(texts, key=_hash):
        groups[home[key]].append(key)
    queries = []
    ids: set[str] = set()
    for key in sorted(_spread_sample(groups, limit), key=_hash):
        qid = base = f"{home[key]}-{slugify(texts[key])}"
        n = 2
        while qid in ids:
            qid, n = f"{base}-{n}", n + 1
        ids.add(qid)
        queries.append(Query(qid, texts[key], tuple(sorted(relevant[key]))))
    return EvalSet("gnu-manuals", documents, sorted(queries, key=lambda q: q.id))


# ---------------------------------------------------------------------------------------------------
# Writing, checking, CLI
# ---------------------------------------------------------------------------------------------------


def check(evalset: EvalSet) -> list[str]:
    """Problems with a set: relevant documents missing from the corpus, ambiguous suffixes, ..."""
    problems = []
    names = sorted(evalset.documents)
    for query in evalset.queries:
        if not query.relevant:
            problems.append(f"{query.id}: no relevant document")
        for path in query.relevant:
            if path not in evalset.documents:
                problems.append(f"{query.id}: relevant {path} is not in the corpus")
            others = [n for n in names if n != path and n.endswith("/" + path)]
            if others:
                problems.append(f"{query.id}: relevant {path} is also a path suffix of {others}")
    if len({q.id for q in evalset.queries}) != len(evalset.queries):
        problems.append("duplicate query ids")
    return problems


def write(evalset: EvalSet, out: Path) -> Path:
    """Write ``out/<set>/corpus/`` and ``out/<set>/queries.jsonl`` (replacing an earlier build)."""
    root = out / evalset.name
    if root.exists():
        shutil.rmtree(root)
    corpus = root / "corpus"
    for path, content in sorted(evalset.documents.items()):
        dest = corpus / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
    queries = root / "queries.jsonl"
    queries.write_text("".join(q.to_json() + "\n" for q in evalset.queries), encoding="utf-8")
    return queries


def _summary(evalset: EvalSet) -> str:
    n = len(evalset.queries)
    mean = sum(len(q.relevant) for q in evalset.queries) / n if n else 0.0
    return f"{evalset.name}: {len(evalset.documents)} documents, {n} queries, {mean:.2f} relevant per query"


@dataclass(frozen=True)
class SetSpec:
    """A set the script can build: name, description and how to locate its source."""

    name: str
    description: str
    source: Callable[[], Path | None]
    build: Callable[[Path], EvalSet]


def _info_dir() -> Path | None:
    return INFO_DIR if info_manuals(INFO_DIR) else None


SETS = (
    SetSpec(
        "cargo-book",
        "Cargo book (mdBook HTML); FAQ questions and glossary terms → the pages they link to",
        find_cargo_book,
        build_cargo_book,
    ),
    SetSpec(
        "gnu-manuals",
        "GNU Info manuals as Markdown nodes; concept-index entries → the nodes they index",
        _info_dir,
        build_gnu_manuals,
    ),
)


def cmd_build(out: Path) -> int:
    """Build every set into ``out`` and copy its queries to ``bench/evalsets/``."""
    status = 0
    COMMITTED.mkdir(parents=True, exist_ok=True)
    for spec in SETS:
        source = spec.source()
        if source is None:
            print(f"{spec.name}: source not found, skipped", file=sys.stderr)
            status = 1
            continue
        evalset = spec.build(source)
        problems = check(evalset)
        for problem in problems:
            print(f"{spec.name}: {problem}", file=sys.stderr)
        if any("not in the corpus" in p or "no relevant" in p or "duplicate" in p for p in problems):
            status = 1
        queries = write(evalset, out)
        shutil.copyfile(queries, COMMITTED / f"{spec.name}.jsonl")
        print(f"{_summary(evalset)}  →  {out / spec.name}")
    return status


def cmd_list(out: Path) -> int:
    """Print the sets, their sources and whether (and how big) they are built in ``out``."""
    for spec in SETS:
        source = spec.source()
        queries = out / spec.name / "queries.jsonl"
        if queries.is_file():
            count = sum(1 for line in queries.read_text(encoding="utf-8").splitlines() if line.strip())
            docs = sum(1 for p in (out / spec.name / "corpus").rglob("*") if p.is_file())
            built = f"built: {docs} documents, {count} queries in {out / spec.name}"
        else:
            built = "not built"
        print(f"{spec.name}: {spec.description}")
        print(f"    source: {source if source else 'not found'}; {built}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build every set"), ("list", "list the sets")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
        )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    return cmd_build(out) if args.command == "build" else cmd_list(out)


if __name__ == "__main__":
    sys.exit(main())
