"""A loaded Service's `request:`: valid shapes become the agent's RequestShape; every invalid one is a located
error with a hint (one test per message)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoskit.experiment import SpecIssue
from chaoskit.experiment.requests import status_range
from chaoskit.load.shape import RequestShape
from tests.unit.test_spec_helpers import edit, errors, load, where

pytestmark = pytest.mark.unit

SERVICE = "    - name: demo\n      types: [ClusterIP]\n"


def with_request(block: str) -> str:
    """The demo experiment with ``block`` (YAML lines indented for `request:`) under the first service."""
    return edit(SERVICE, SERVICE + "      request:\n" + "".join(f"        {line}\n" for line in block.splitlines()))


def only(text: str, directory: Path) -> SpecIssue:
    found = errors(text, directory).issues
    assert len(found) == 1, [str(i) for i in found]
    return found[0]


def test_no_request_is_the_old_plain_get_of_load_path(tmp_path: Path) -> None:
    text = edit("  rate: 10\n", "  rate: 10\n  path: /ping\n")
    shape = load(text, tmp_path).load.services[0].request.shape("/ping")
    assert shape == RequestShape(paths=(("/ping", 1),))
    assert shape.success == ((200, 399),)


def test_a_full_http_request_becomes_its_shape(tmp_path: Path) -> None:
    (tmp_path / "order.json").write_bytes(b'{"qty": 1}')
    text = with_request("method: POST\n"
                        "paths: [{path: /orders, weight: 3}, {path: '/orders?dry=1'}]\n"
                        "headers: {Host: shop.example, Authorization: Bearer abc}\n"
                        "body_file: order.json\n"
                        "success: [200-299, 304, 4xx]")
    shape = load(text, tmp_path).load.services[0].request.shape("/")
    assert shape.method == "POST" and shape.body == b'{"qty": 1}'
    assert shape.paths == (("/orders", 3), ("/orders?dry=1", 1))
    assert shape.path_cycle("/") == ("/orders", "/orders", "/orders?dry=1", "/orders")
    assert shape.headers == (("Host", "shop.example"), ("Authorization", "Bearer abc"))
    assert shape.success == ((200, 299), (304, 304), (400, 499))


def test_tcp_mode_bytes_from_text_or_base64(tmp_path: Path) -> None:
    text = with_request(f'mode: tcp\nsend: "PING\\r\\n"\nexpect_base64: {base64.b64encode(b"+PONG").decode()}')
    shape = load(text, tmp_path).load.services[0].request.shape("/")
    assert (shape.mode, shape.send, shape.expect) == ("tcp", b"PING\r\n", b"+PONG")


def test_a_body_on_a_get_is_an_error(tmp_path: Path) -> None:
    text = with_request("body: '{}'")
    issue = only(text, tmp_path)
    assert issue.message == "load.services[0].request.body: a GET request carries no body"
    assert "method: POST" in issue.hint
    assert (issue.line, issue.column) == where(text, "'{}'")


def test_https_with_tcp_is_an_error(tmp_path: Path) -> None:
    text = with_request("mode: tcp\nhttps: true")
    issue = only(text, tmp_path)
    assert issue.message == "load.services[0].request.https: https and mode tcp exclude each other"
    assert (issue.line, issue.column) == where(text, "true")


def test_a_header_value_with_a_line_break_is_an_error(tmp_path: Path) -> None:
    text = with_request('headers: {X-Note: "a\\r\\nX-Admin: 1"}')
    issue = only(text, tmp_path)
    assert issue.message == "load.services[0].request.headers.X-Note: the value of X-Note holds a line break or NUL"
    assert "one line" in issue.hint
    assert (issue.line, issue.column) == where(text, '"a')


def test_a_framing_header_is_an_error_and_unknown_names_are_fine(tmp_path: Path) -> None:
    text = with_request("headers: {X-Anything-Goes: yes, Content-Length: '5'}")
    issue = only(text, tmp_path)
    assert issue.message.endswith(": Content-Length is set by chaoskit (from the body and load.connection)")
    assert issue.message.startswith("load.services[0].request.headers.Content-Length:")


def test_a_missing_ca_file_is_an_error(tmp_path: Path) -> None:
    text = with_request("https: true\nca_file: certs/ca.pem")
    issue = only(text, tmp_path)
    assert issue.message == f"load.services[0].request.ca_file: file not found: {tmp_path / 'certs' / 'ca.pem'}"
    assert "relative to the experiment file" in issue.hint
    assert (issue.line, issue.column) == where(text, "certs/ca.pem")


def test_a_ca_file_that_is_no_certificate_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    issue = only(with_request("https: true\nca_file: ca.pem"), tmp_path)
    assert issue.message.startswith("load.services[0].request.ca_file: no PEM certificate in")


def test_a_real_ca_file_is_read_into_the_shape(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", "ca.key", "-out", "ca.pem"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    text = with_request("https: true\nca_file: ca.pem\nserver_name: shop.example")
    shape = load(text, tmp_path).load.services[0].request.shape("/")
    assert shape.https and shape.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert shape.tls_server_name("10.0.0.1") == "shop.example"


@pytest.mark.parametrize(("block", "message", "hint"), [
    ("insecure: true", "request.insecure: insecure needs `https: true`", "add `https: true`"),
    ("path: /a\npaths: [{path: /b}]", "request.paths: path and paths are both set", "choose one"),
    ("send: PING", "request.send: send applies to mode tcp only", "mode: tcp"),
    ("mode: tcp\nmethod: POST", "request.method: method applies to mode http only", "send"),
    ("success: [200-199]", "request.success[0]: not a status code or range: 200-199", "2xx"),
    ("success: [700]", "request.success[0]: not a status code or range: 700", "within 100-599"),
    ("mode: tcp\nsend_base64: '***'", "request.send_base64: not valid base64", "base64"),
    ("method: FETCH", "request.method: Input should be", "did you mean"),
    ("path: /a b", "request.path: String should match pattern", ""),
    ("https: true\ninsecure: true\nserver_name: -bad", "request.server_name: String should match pattern", ""),
])
def test_request_errors_name_the_field(tmp_path: Path, block: str, message: str, hint: str) -> None:
    issue = only(with_request(block), tmp_path)
    assert issue.message.startswith(f"load.services[0].{message}"), issue.message
    assert hint in issue.hint


def test_an_oversized_body_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * (64 * 1024 + 1))
    issue = only(with_request("method: POST\nbody_file: big.bin"), tmp_path)
    assert issue.message.endswith(f"{tmp_path / 'big.bin'} is larger than 65536 bytes")


def test_a_dumped_experiment_validates_again(tmp_path: Path) -> None:
    """`with_overrides` re-validates a dump: every field is then set, and files are absolute."""
    (tmp_path / "body.txt").write_text("hi")
    spec = load(with_request("method: POST\nbody_file: body.txt\nsuccess: [2xx]"), tmp_path)
    again = spec.with_overrides(rate=5)
    assert again.load.services[0].request == spec.load.services[0].request


@pytest.mark.parametrize(("item", "expected"), [
    (204, (204, 204)), ("304", (304, 304)), ("200-299", (200, 299)), ("5xx", (500, 599)), (" 201 - 202 ", (201, 202)),
])
def test_status_ranges(item: int | str, expected: tuple[int, int]) -> None:
    assert status_range(item) == expected
