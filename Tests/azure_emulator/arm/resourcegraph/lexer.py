"""The KQL tokenizer: query text -> a list of tokens with their line and column, and the one error type of the
query language (QueryError), which responses.py turns into Resource Graph's 400.

Tokens: identifiers (letters, digits, '_', a leading '$' for $left / $right; the hyphenated operator names
such as project-away and mv-expand are one token), string literals ('...' and "..." with backslash escapes,
@'...' and @"..." verbatim), numbers (integers and decimals), and the punctuation of the subset. `//` starts a
comment that runs to the end of the line. Anything else is a ParserFailure naming the character.
"""
from __future__ import annotations

from dataclasses import dataclass

# KQL's hyphenated tabular operators: one token each, so that an unsupported one can be named in the error
HYPHENATED = ("project-away", "project-keep", "project-rename", "project-reorder", "mv-expand", "mv-apply",
              "make-series", "top-nested", "top-hitters", "sample-distinct")
# the negated string operators of the subset (other "!word" operators, such as !has_cs, are named as unsupported)
NEGATED_WORDS = ("!contains", "!startswith", "!endswith", "!has", "!in~", "!in")
# longest first: "==" before "="
SYMBOLS = ("==", "!=", "=~", "!~", "<=", ">=",
           "|", ",", "(", ")", "[", "]", ".", "=", "<", ">", ";", "+", "-", "*", "/", "%", "{", "}", ":")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


class QueryError(Exception):
    """A query Resource Graph refuses. `code`: ParserFailure (not KQL), InvalidQueryLanguage (KQL this service
    does not evaluate), SemanticError (a name that resolves to nothing, wrong arguments), UnsupportedJoinFlavor
    and OperatorLimitExceeded (what Resource Graph itself refuses); `token`: the construct."""

    def __init__(self, code: str, message: str, token: str, line: int = 1, column: int = 0):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.token, self.line, self.column = code, message, token, line, column


@dataclass(frozen=True)
class Token:
    kind: str       # ident | string | number | symbol | end
    value: str      # the identifier, the decoded string, the number's text, the symbol
    line: int
    column: int     # 0-based position in its line, as Resource Graph's characterPositionInLine
    text: str = ""  # the source text (a string literal with its quotes)

    def shown(self) -> str:
        return self.text or self.value or "<end of query>"


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def fail(self, token: str, message: str) -> QueryError:
        return QueryError("ParserFailure", message, token, self.line, self.pos - self.line_start)

    def add(self, kind: str, value: str, start: int, text: str = "") -> None:
        self.tokens.append(Token(kind, value, self.line, start - self.line_start, text))

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line, self.line_start = self.line + 1, self.pos
            elif ch.isspace():
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif ch in "'\"" or (ch == "@" and text[self.pos + 1:self.pos + 2] in ("'", '"')):
                self.string()
            elif ch.isdigit():
                self.number()
            elif _is_ident_start(ch):
                self.identifier()
            else:
                self.symbol()
        self.tokens.append(Token("end", "", self.line, self.pos - self.line_start))
        return self.tokens

    def string(self) -> None:
        text, start = self.text, self.pos
        verbatim = text[start] == "@"
        quote = text[start + 1] if verbatim else text[start]
        i = start + (2 if verbatim else 1)
        out: list[str] = []
        while True:
            if i >= len(text) or text[i] == "\n":
                self.pos = start
                raise self.fail(text[start:i], "The string literal is not terminated.")
            ch = text[i]
            if ch == quote:
                i += 1
                break
            if ch == "\\" and not verbatim:
                nxt = text[i + 1:i + 2]
                if nxt not in ESCAPES:
                    self.pos = i
                    raise self.fail(text[i:i + 2], f"Unknown escape sequence '\\{nxt}' in a string literal.")
                out.append(ESCAPES[nxt])
                i += 2
                continue
            out.append(ch)
            i += 1
        self.pos = i
        self.add("string", "".join(out), start, text[start:i])

    def number(self) -> None:
        text, start = self.text, self.pos
        i = start
        while i < len(text) and text[i].isdigit():
            i += 1
        if i < len(text) - 1 and text[i] == "." and text[i + 1].isdigit():
            i += 1
            while i < len(text) and text[i].isdigit():
                i += 1
        if i < len(text) and _is_ident_char(text[i]):  # 1d, 10ms, 0x1F: timespans and hex are outside the subset
            j = i
            while j < len(text) and _is_ident_char(text[j]):
                j += 1
            self.pos = start
            raise QueryError("InvalidQueryLanguage", f"The literal '{text[start:j]}' (a timespan or hex number) "
                             "is not supported by this Resource Graph emulator.", text[start:j], self.line,
                             start - self.line_start)
        self.pos = i
        self.add("number", text[start:i], start)

    def identifier(self) -> None:
        text, start = self.text, self.pos
        i = start + 1
        while i < len(text) and _is_ident_char(text[i]):
            i += 1
        word = text[start:i]
        if word == "in" and text[i:i + 1] == "~":  # in~, the case-insensitive in
            word, i = "in~", i + 1
        for name in HYPHENATED:
            head, _, tail = name.partition("-")
            if word == head and text.startswith("-" + tail, i):
                j = i + 1 + len(tail)
                while j < len(text) and _is_ident_char(text[j]):
                    j += 1
                word, i = text[start:j], j
                break
        self.pos = i
        self.add("ident", word, start)

    def symbol(self) -> None:
        text, start = self.text, self.pos
        if text[start] == "!" and text[start + 1:start + 2].isalpha():
            end = start + 1
            while end < len(text) and (_is_ident_char(text[end]) or text[end] == "~"):
                end += 1
            word = text[start:end]
            if word in NEGATED_WORDS:
                self.pos = end
                self.add("symbol", word, start)
                return
            raise QueryError("InvalidQueryLanguage", f"The operator '{word}' is not supported by this Resource "
                             "Graph emulator.", word, self.line, start - self.line_start)
        for sym in SYMBOLS:
            if text.startswith(sym, start):
                self.pos = start + len(sym)
                self.add("symbol", sym, start)
                return
        raise self.fail(text[start], f"Unexpected character '{text[start]}'.")


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an `end` token; QueryError (ParserFailure) for text that is not KQL."""
    return _Scanner(text).run()
