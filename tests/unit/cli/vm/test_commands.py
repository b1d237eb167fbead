"""`pvc vm define|modify|rename|undefine|remove|meta|tag|start…|migrate…` against a fake
API: the requests sent (paths, parameters, booleans as PVC's client spells them, the XML
in a form body), confirmations, and what is printed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.unit.cli.vm.support import XML, FakeApi, run

OK = {"message": "done"}


def test_define_sends_the_xml_as_a_form_field(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/vm", {"message": 'Added new VM with Name "web1" and UUID "u" to database.'})
    xml_file = tmp_path / "web1.xml"
    xml_file.write_text(XML)
    result = run(api, tmp_path, "vm", "define", str(xml_file), "-t", "hv2", "-l", "hv1,hv2",
                 "-s", "mem", "-a", "-m", "live", "--max-downtime", "500", "-g", "web",
                 "--tag", "db", "--protected-tag", "prod")
    assert result.exit_code == 0, result.output
    assert result.stdout == 'Added new VM with Name "web1" and UUID "u" to database.\n'
    seen = api.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/v1/vm")
    assert seen.query == [("node", "hv2"), ("limit", "hv1,hv2"), ("selector", "mem"),
                          ("autostart", "True"), ("migration_method", "live"),
                          ("migration_max_downtime", "500"), ("user_tags", "web"),
                          ("user_tags", "db"), ("protected_tags", "prod")]
    assert seen.form == [("xml", XML)]


def test_define_minimal_from_stdin_and_api_refusal(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/vm", httpx.Response(
        400, json={"message": 'A VM named "web1" already exists'}))
    result = run(api, tmp_path, "vm", "define", "-", stdin=XML)
    assert api.seen[0].query == [("autostart", "False")]
    assert api.seen[0].form == [("xml", XML)]
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == 'Error: A VM named "web1" already exists'


@pytest.mark.parametrize(("flags", "restart"), [(["-r"], "True"), (["--no-restart"], "False"),
                                                ([], "False")])
def test_modify_puts_the_xml_with_restart(tmp_path: Path, flags: list[str], restart: str) -> None:
    api = FakeApi()
    api.on("PUT", "/vm/web1", {"message": 'Modified VM "web1".'})
    xml_file = tmp_path / "web1.xml"
    xml_file.write_text(XML)
    result = run(api, tmp_path, "vm", "modify", "web1", str(xml_file), *flags, stdin="n\n")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("PUT", "/api/v1/vm/web1", [("restart", restart)])]
    assert api.seen[0].form == [("xml", XML)]
    assert result.stdout == 'Modified VM "web1".\n'
    assert ("Restart VM" in result.stderr) == (not flags)


@pytest.mark.parametrize(
    ("args", "method", "path", "query"),
    [
        (["rename", "web1", "web2"], "POST", "/vm/web1/rename", [("new_name", "web2")]),
        (["undefine", "web1"], "DELETE", "/vm/web1", [("delete_disks", "False")]),
        (["remove", "web1"], "DELETE", "/vm/web1", [("delete_disks", "True")]),
        (["restart", "web1"], "POST", "/vm/web1/state",
         [("state", "restart"), ("force", "False"), ("wait", "False")]),
        (["shutdown", "web1"], "POST", "/vm/web1/state",
         [("state", "shutdown"), ("force", "False"), ("wait", "False")]),
        (["stop", "web1"], "POST", "/vm/web1/state",
         [("state", "stop"), ("force", "False"), ("wait", "False")]),
        (["disable", "web1", "--force"], "POST", "/vm/web1/state",
         [("state", "disable"), ("force", "True"), ("wait", "False")]),
    ],
)
def test_dangerous_commands_confirm_first(
    tmp_path: Path, args: list[str], method: str, path: str, query: list[tuple[str, str]]
) -> None:
    api = FakeApi()
    api.on(method, path, OK)
    declined = run(api, tmp_path, "vm", *args, stdin="n\n")
    assert declined.exit_code == 0 and api.seen == []
    assert "virtual machine" in declined.stderr and "Aborted." in declined.stderr
    for extra, unsafe in ((["-y"], False), ([], True)):
        result = run(api, tmp_path, "vm", *args, *extra, unsafe=unsafe)
        assert result.exit_code == 0, result.output
        assert result.stdout == "done\n"
    assert api.requests() == [(method, "/api/v1" + path, query)] * 2


def test_start_with_wait_waits_on_the_api(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/vm/web1/state", {"message": 'Started VM "web1" on node "hv1".'})
    result = run(api, tmp_path, "vm", "start", "web1", "-w")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("POST", "/api/v1/vm/web1/state",
                               [("state", "start"), ("force", "False"), ("wait", "True")])]
    assert api.seen[0].timeout is not None and api.seen[0].timeout >= 600
    assert result.stdout == 'Started VM "web1" on node "hv1".\n'
    run(api, tmp_path, "vm", "start", "web1", "--force")
    assert api.seen[1].query == [("state", "start"), ("force", "True"), ("wait", "False")]
    assert api.seen[1].timeout == 30.0


def test_a_refused_state_change_exits_with_the_message(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/vm/web1/state", httpx.Response(
        400, json={"message": 'VM "web1" is in state stop; restart is not possible'}))
    result = run(api, tmp_path, "vm", "restart", "web1", "-y")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        'Error: VM "web1" is in state stop; restart is not possible')


@pytest.mark.parametrize(
    ("args", "query"),
    [
        (["migrate", "web1"], [("action", "migrate"), ("force", "false"), ("wait", "false"),
                               ("force_live", "false")]),
        (["migrate", "web1", "-t", "hv2", "-f", "-w", "--force-live"],
         [("node", "hv2"), ("action", "migrate"), ("force", "true"), ("wait", "true"),
          ("force_live", "true")]),
        (["move", "web1", "--target", "hv3"],
         [("node", "hv3"), ("action", "move"), ("force", "false"), ("wait", "false"),
          ("force_live", "false")]),
        (["unmigrate", "web1", "--wait"],
         [("action", "unmigrate"), ("force", "false"), ("wait", "true"),
          ("force_live", "false")]),
    ],
)
def test_node_actions_send_lower_case_booleans(
    tmp_path: Path, args: list[str], query: list[tuple[str, str]]
) -> None:
    api = FakeApi()
    api.on("POST", "/vm/web1/node", {"message": 'Migrating VM "web1" to node "hv2".'})
    result = run(api, tmp_path, "vm", *args)
    assert result.exit_code == 0, result.output
    assert api.requests() == [("POST", "/api/v1/vm/web1/node", query)]
    assert result.stdout == 'Migrating VM "web1" to node "hv2".\n'


def test_meta_sends_only_what_is_given(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/vm/web1/meta", {"message": 'Successfully modified metadata of VM "web1".'})
    result = run(api, tmp_path, "vm", "meta", "web1", "-l", "hv1,hv2", "-A", "-p", "small",
                 "--max-downtime", "800")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("POST", "/api/v1/vm/web1/meta", [
        ("limit", "hv1,hv2"), ("autostart", "False"), ("profile", "small"),
        ("migration_max_downtime", "800")])]
    run(api, tmp_path, "vm", "meta", "web1", "-a", "-s", "load", "--method", "shutdown")
    assert api.seen[1].query == [("selector", "load"), ("autostart", "True"),
                                 ("migration_method", "shutdown")]
    nothing = run(api, tmp_path, "vm", "meta", "web1")
    assert nothing.exit_code == 5 and len(api.seen) == 2
    assert "Nothing to change" in nothing.stderr


def test_tags(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm/web1/tags", {"name": "web1", "tags": [
        {"name": "prod", "type": "user", "protected": True},
        {"name": "web", "type": "user", "protected": False}]})
    api.on("POST", "/vm/web1/tags", {"message": 'Added tag "db" to VM "web1".'})
    got = run(api, tmp_path, "vm", "tag", "get", "web1")
    assert got.exit_code == 0, got.output
    assert [ln.split() for ln in got.stdout.splitlines()] == [
        ["Name", "Type", "Protected"], ["prod", "user", "yes"], ["web", "user", "no"]]
    assert run(api, tmp_path, "vm", "tag", "add", "web1", "db", "-p").stdout == (
        'Added tag "db" to VM "web1".\n')
    run(api, tmp_path, "vm", "tag", "remove", "web1", "db")
    assert api.requests()[1:] == [
        ("POST", "/api/v1/vm/web1/tags", [("action", "add"), ("tag", "db"), ("protected", "True")]),
        ("POST", "/api/v1/vm/web1/tags",
         [("action", "remove"), ("tag", "db"), ("protected", "False")]),
    ]
