import pytest

from wharfie.cli.format import (
    Template,
    TemplateError,
    ellipsis,
    go_json,
    human_duration,
    human_size,
    since,
    tabwrite,
    write_rows,
)


@pytest.mark.parametrize("n,text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (4261550, "4.26MB"),
                                    (1234567890, "1.23GB"), (999.5, "1e+03B")])
def test_human_size_matches_go_units(n, text):
    assert human_size(n) == text


def test_human_size_precision_4():
    assert human_size(16430000, 4) == "16.43MB"


@pytest.mark.parametrize("secs,text", [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"),
    (14 * 86400, "2 weeks"), (60 * 86400, "2 months"), (730 * 86400, "2 years")])
def test_human_duration_matches_go_units(secs, text):
    assert human_duration(secs) == text


def test_since_and_unknown_time():
    assert since(1000.0, now=1000.0 + 7200) == "2 hours ago"
    assert since(None) == "N/A" and since(0) == "N/A"


def test_ellipsis():
    assert ellipsis("abc", 5) == "abc"
    assert ellipsis("abcdefgh", 5) == "abcd…" and len(ellipsis("x" * 100, 45)) == 45


def test_tabwrite_like_go_tabwriter():
    text = tabwrite(["REPOSITORY\tTAG\tSIZE", "a\tlatest\t1B", "longer-repository-name\tv\t2B"])
    assert text == ("REPOSITORY               TAG       SIZE\n"
                    "a                        latest    1B\n"
                    "longer-repository-name   v         2B\n")


def test_template_fields_functions_and_blocks():
    data = {"A": "x", "L": ["p", "q"], "M": {"k": "v", "b": 1}, "N": None, "T": True, "Z": 0}
    assert Template("{{.A}}:{{.M.k}}").render(data) == "x:v"
    assert Template("{{json .L}} {{json .M}} {{json .N}}").render(data) == \
        '["p","q"] {"k":"v","b":1} null'
    assert Template("{{.L}} {{.M}} {{.N}} {{.T}}").render(data) == "[p q] map[b:1 k:v] <nil> true"
    assert Template('{{join .L ","}} {{index .L 1}} {{index .M "k"}} {{len .L}}').render(data) \
        == "p,q q v 2"
    assert Template("{{range .L}}<{{.}}>{{end}}").render(data) == "<p><q>"
    assert Template("{{range .N}}x{{else}}empty{{end}}").render(data) == "empty"
    assert Template("{{if .Z}}a{{else if .T}}b{{else}}c{{end}}").render(data) == "b"
    assert Template("{{with .M}}{{.k}}{{end}}").render(data) == "v"
    assert Template("{{.A | upper}} {{lower \"AB\"}} {{printf \"%s-%d\" .A 3}}").render(data) \
        == "X ab x-3"
    assert Template("{{- range .L -}} {{.}} {{- end}}").render(data) == "pq"
    assert Template("{{.Missing}}").render(data) == "<no value>"


@pytest.mark.parametrize("bad,msg", [("{{.A", "unclosed"), ("{{nosuch .A}}", '"nosuch" not defined'),
                                     ("{{end}}", "unexpected"), ("{{if .A}}x", "EOF"),
                                     ("{{(.A}}", "unclosed")])
def test_template_parse_errors(bad, msg):
    with pytest.raises(TemplateError, match=msg):
        Template(bad)


def test_template_field_of_object_must_exist():
    class Obj:
        Name = "n"
    assert Template("{{.Name}}").render(Obj()) == "n"
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        Template("{{.Nope}}").render(Obj())


def test_write_rows_table_json_and_template():
    rows = [{"Name": "a", "Size": "1B"}, {"Name": "bb", "Size": "22B"}]
    got = []
    write_rows(None, rows, default="table {{.Name}}\t{{.Size}}", headers={"Name": "NAME",
               "Size": "SIZE"}, echo=got.append)
    assert "".join(got) == "NAME      SIZE\na         1B\nbb        22B\n"
    got.clear()
    write_rows("table {{.Size}}:{{.Name}}", rows, default="", headers={"Name": "NAME",
               "Size": "SIZE"}, echo=got.append)
    assert "".join(got) == "SIZE:NAME\n1B:a\n22B:bb\n"
    got.clear()
    write_rows("json", rows[:1], default="", headers={}, echo=got.append)
    assert "".join(got) == '{"Name":"a","Size":"1B"}\n'
    got.clear()
    write_rows("{{.Name}}\\t{{.Size}}", rows, default="", headers={}, echo=got.append)
    assert "".join(got) == "a\t1B\nbb\t22B\n"


def test_go_json_escapes_html():
    assert go_json({"a": "<none>&"}) == '{"a":"\\u003cnone\\u003e\\u0026"}'
