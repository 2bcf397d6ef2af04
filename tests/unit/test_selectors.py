"""Label and field selectors (kubeproc.api.selectors). Cases follow upstream
k8s.io/apimachinery/pkg/labels/selector_test.go (TestSelectorParse, TestSelectorMatches,
TestSetSelectorParser, TestRequirementSelectorMatching, TestToString),
pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector and pkg/fields/selector_test.go."""

from __future__ import annotations

import pytest

from kubeproc.api import errors
from kubeproc.api.selectors import (EVERYTHING, NOTHING, Requirement, from_label_selector,
                                    parse_field_selector, parse_label_selector, selector_string)

# ---- parsing: good strings -> requirements --------------------------------------------------
R = Requirement
PARSE_CASES = [
    ("empty-is-everything", "", ()),
    ("whitespace-only-is-everything", "   ", ()),
    ("equals-list", "x=a,y=b,z=c", (R("x", "=", ("a",)), R("y", "=", ("b",)), R("z", "=", ("c",)))),
    ("double-equals-is-equals", "x==a", (R("x", "=", ("a",)),)),
    ("not-equals", "x!=a,y=b", (R("x", "!=", ("a",)), R("y", "=", ("b",)))),
    ("empty-value", "x=", (R("x", "=", ("",)),)),
    ("empty-value-with-space", "x= ,z= ", (R("x", "=", ("",)), R("z", "=", ("",)))),
    ("spaces-around-operator", " x = a ", (R("x", "=", ("a",)),)),
    ("does-not-exist", "!x", (R("x", "!"),)),
    ("exists", "x", (R("x", "exists"),)),
    ("exists-trailing-space", "a ", (R("a", "exists"),)),
    ("exists-leading-carriage-return", "\rx", (R("x", "exists"),)),
    ("greater-than", "x>1", (R("x", "gt", ("1",)),)),
    ("gt-and-lt", "x>1,z<5", (R("x", "gt", ("1",)), R("z", "lt", ("5",)))),
    ("lt-negative", "x<-1", (R("x", "lt", ("-1",)),)),
    ("prefixed-key", "this-is-a-dns.domain.com/key-with-dash",
     (R("this-is-a-dns.domain.com/key-with-dash", "exists"),)),
    ("in-prefixed-key", "example.com/k in (so,what)",
     (R("example.com/k", "in", ("so", "what")),)),
    ("notin-dotted-values", "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
     (R("0.1.2.domain/99", "notin", ("10.10.100.1", "tick.tack.clock")),)),
    ("in-tabs-and-spaces", "foo  in\t (abc)", (R("foo", "in", ("abc",)),)),
    ("notin-newline", "x notin\n (abc)", (R("x", "notin", ("abc",)),)),
    ("in-no-space-before-paren", "x in(a)", (R("x", "in", ("a",)),)),
    ("in-trailing-comma-adds-empty", "x in (abc,)", (R("x", "in", ("", "abc")),)),
    ("in-empty-parens-is-empty-value", "x in ()", (R("x", "in", ("",)),)),
    ("notin-space-in-parens", "x notin ( )", (R("x", "notin", ("",)),)),
    ("in-duplicates-collapse", "x in (a,,a,,a,,a,,)", (R("x", "in", ("", "a")),)),
    ("operator-words-as-values", "a in (x,y,notin, z,in)",
     (R("a", "in", ("in", "notin", "x", "y", "z")),)),
    ("operator-words-as-key-and-value", "notin=in", (R("notin", "=", ("in",)),)),
    ("mixed", "x notin (abc,,def),bar,z in (),w",
     (R("x", "notin", ("", "abc", "def")), R("bar", "exists"), R("z", "in", ("",)),
      R("w", "exists"))),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in PARSE_CASES],
                         ids=[c[0] for c in PARSE_CASES])
def test_parse(text: str, expected: tuple) -> None:
    assert parse_label_selector(text).requirements == expected


def test_parse_none_is_everything() -> None:
    assert parse_label_selector(None) == EVERYTHING and EVERYTHING.empty()


BAD = [
    ("or-operator", "x=a||y=b"),
    ("double-equals-twice", "x==a==b"),
    ("not-with-value", "!x=a"),
    ("lt-non-integer", "x<a"),
    ("gt-decimal", "x>1.5"),
    ("empty-term-middle", "x,,y"),
    ("empty-term-leading", ",x,y"),
    ("trailing-comma", "a in (xyz),"),
    ("misspelt-operator", "x nott in (y)"),
    ("junk-after-set", "a in (xyz)b notin ()"),
    ("unclosed-paren", "x in (a"),
    ("stray-close-paren", "x)"),
    ("in-without-parens", "x in a"),
    ("missing-key", "=a"),
    ("space-in-value", "x=a b"),
    ("two-words", "x y"),
    ("bad-key-char", "x$=a"),
    ("uppercase-prefix", "Example.com/x=a"),
    ("key-name-too-long", "k" * 64 + "=a"),
    ("value-too-long", "x=" + "v" * 64),
    ("value-bad-start", "x=-a"),
]


@pytest.mark.parametrize("text", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_parse_bad_input_is_bad_request(text: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_label_selector(text)
    assert exc.value.code == 400 and exc.value.message.startswith("unable to parse requirement")


# ---- matching -------------------------------------------------------------------------------
MATCH = [
    ("empty-matches-all", "", {"x": "y"}, True),
    ("equals", "x=y", {"x": "y"}, True),
    ("equals-all", "x=y,z=w", {"x": "y", "z": "w"}, True),
    ("not-equals-both", "x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("exists", "x", {"x": "z"}, True),
    ("does-not-exist", "!x", {"y": "z"}, True),
    ("gt", "x>1", {"x": "2"}, True),
    ("lt", "x<1", {"x": "0"}, True),
    ("equals-missing-label", "x=z", {}, False),
    ("equals-other-value", "x=y", {"x": "z"}, False),
    ("equals-one-of-two-fails", "x=y,z=w", {"x": "w", "z": "w"}, False),
    ("not-equals-one-fails", "x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("exists-missing", "x", {"y": "z"}, False),
    ("does-not-exist-present", "!x", {"x": "z"}, False),
    ("gt-smaller", "x>1", {"x": "0"}, False),
    ("lt-larger", "x<1", {"x": "2"}, False),
    ("gt-missing-label", "x>1", {}, False),
    ("gt-non-numeric-label", "z>1", {"z": "v2"}, False),
    ("not-equals-missing-label-matches", "x!=a", {}, True),
    ("in", "x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
    ("in-fails", "x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
    ("notin-empty-value-missing-label", "x notin (),y", {"y": ""}, True),
    ("in-empty-value-other-label", "x in ()", {"y": "baz"}, False),
    ("in-empty-value-empty-label", "x in ()", {"x": ""}, True),
    ("exists-and-not-exists", "x,!x", {"x": "a"}, False),
]


@pytest.mark.parametrize("text,labels,expected", [m[1:] for m in MATCH], ids=[m[0] for m in MATCH])
def test_matches(text: str, labels: dict, expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


# ---- metav1.LabelSelector ------------------------------------------------------------------
LS = [
    ("nil-selects-nothing", None, {"a": "b"}, False),
    ("nil-selects-nothing-even-no-labels", None, {}, False),
    ("empty-selects-everything", {}, {"a": "b"}, True),
    ("empty-lists-select-everything", {"matchLabels": {}, "matchExpressions": []}, {}, True),
    ("matchlabels-match", {"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ("matchlabels-mismatch", {"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ("expr-in", {"matchExpressions": [{"key": "t", "operator": "In", "values": ["a", "b"]}]},
     {"t": "b"}, True),
    ("expr-notin", {"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]},
     {"t": "a"}, False),
    ("expr-exists", {"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
    ("expr-does-not-exist", {"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]},
     {"t": "x"}, False),
    ("labels-and-exprs-anded",
     {"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]},
     {"app": "web", "tier": "be"}, False),
]


@pytest.mark.parametrize("sel,labels,expected", [c[1:] for c in LS], ids=[c[0] for c in LS])
def test_from_label_selector(sel, labels, expected) -> None:
    assert from_label_selector(sel).matches(labels) is expected


def test_from_label_selector_nil_is_nothing_empty_is_everything() -> None:
    assert from_label_selector(None) == NOTHING and not NOTHING.empty()
    assert from_label_selector({}).empty()


def test_from_label_selector_bad_operator() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt"}]})
    assert exc.value.message == '"Gt" is not a valid label selector operator'


@pytest.mark.parametrize("sel,expected", [
    (None, ""),
    ({}, ""),
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchExpressions": [{"key": "x", "operator": "In", "values": ["def", "abc"]},
                           {"key": "y", "operator": "NotIn", "values": ["jkl"]},
                           {"key": "z", "operator": "Exists"}]},
     "x in (abc,def),y notin (jkl),z"),
    ({"matchExpressions": [{"key": "z", "operator": "DoesNotExist"}]}, "!z"),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "t", "operator": "NotIn", "values": [""]}]},
     "app=web,t notin ()"),
], ids=["nil-empty-string", "empty-empty-string", "matchlabels-sorted",
        "in-notin-exists-sorted-values", "does-not-exist", "labels-then-expressions"])
def test_selector_string(sel, expected) -> None:
    assert selector_string(sel) == expected


@pytest.mark.parametrize("sel", [
    {"matchLabels": {"app": "web", "tier": "fe"}},
    {"matchLabels": {"app": "web"},
     "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]},
                          {"key": "gone", "operator": "DoesNotExist"}]},
], ids=["labels-roundtrip", "expressions-roundtrip"])
def test_selector_string_parses_back_to_same_meaning(sel) -> None:
    parsed, direct = parse_label_selector(selector_string(sel)), from_label_selector(sel)
    for labels in ({"app": "web", "tier": "fe", "env": "a"}, {"app": "web", "env": "c"},
                   {"app": "web", "env": "b", "gone": "x"}, {}):
        assert parsed.matches(labels) is direct.matches(labels)


# ---- field selectors -----------------------------------------------------------------------
FIELD = [
    ("empty", "", ()),
    ("none", None, ()),
    ("equals-list", "x=a,y=b,z=c", (("x", "=", "a"), ("y", "=", "b"), ("z", "=", "c"))),
    ("double-equals", "metadata.name==p", (("metadata.name", "=", "p"),)),
    ("not-equals", "x!=a,y=b", (("x", "!=", "a"), ("y", "=", "b"))),
    ("escaped-equals-and-pipes", r"x=a||y\=b", (("x", "=", "a||y=b"),)),
    ("escaped-equals", r"x=a\=\=b", (("x", "=", "a==b"),)),
    ("escaped-comma", r"x=a\,b", (("x", "=", "a,b"),)),
    ("escaped-backslash", r"x=a\\b", (("x", "=", "a\\b"),)),
    ("empty-value", "spec.nodeName=", (("spec.nodeName", "=", ""),)),
    ("empty-terms-skipped", "x=a,,y=b,", (("x", "=", "a"), ("y", "=", "b"))),
]


@pytest.mark.parametrize("text,terms", [f[1:] for f in FIELD], ids=[f[0] for f in FIELD])
def test_parse_field_selector(text, terms) -> None:
    assert parse_field_selector(text).terms == terms


@pytest.mark.parametrize("text", [
    "x=a||y=b", "x==a==b", "x=a,b", "x in (a)", "x in (a,b,c)", "x", "x=a\\", r"x=\q",
], ids=["unescaped-equals", "double-equals-twice", "term-without-operator", "set-syntax",
        "set-syntax-commas", "bare-field", "trailing-backslash", "unknown-escape"])
def test_parse_field_selector_bad(text) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_field_selector(text)
    assert exc.value.code == 400


@pytest.mark.parametrize("text,fields,expected", [
    ("metadata.name=p", {"metadata.name": "p"}, True),
    ("metadata.name=p", {"metadata.name": "q"}, False),
    ("status.phase!=Running", {"status.phase": "Pending"}, True),
    ("status.phase!=Running", {"status.phase": "Running"}, False),
    ("spec.nodeName=", {}, True),
    ("spec.nodeName=n1", {}, False),
    ("a=1,b!=2", {"a": "1", "b": "3"}, True),
    ("", {"a": "1"}, True),
], ids=["equals", "equals-other", "not-equals", "not-equals-same", "missing-field-is-empty",
        "missing-field-not-value", "anded", "empty-matches-all"])
def test_field_selector_matches(text, fields, expected) -> None:
    assert parse_field_selector(text).matches(fields) is expected


def test_field_selector_fields() -> None:
    assert parse_field_selector("a=1,b!=2,a=3").fields() == {"a", "b"}
