"""The what-if web app's JSON API over HTTP: edits, validation, limits, traversal."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from PIL import Image

from deadzone.geo.audit import audit
from deadzone.web import MAX_BODY_BYTES, is_loopback
from tests.web.conftest import DEAD_CORNER_M, Served, lonlat


def _get(served: Served, path: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(served.url + path.lstrip("/"), timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def _post(served: Served, action: str, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(
        served.url + "api/" + action, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _raw(served: Served, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side path normalisation); status and body."""
    host, port = served.host_port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _host(served: Served) -> bytes:
    return f"127.0.0.1:{served.host_port[1]}".encode()


def test_state_page_and_headers(served: Served) -> None:
    code, body, headers = _get(served, "/api/state")
    assert code == 200
    s = json.loads(body)
    assert s["totals"]["villages_total"] == 30
    assert len(s["villages"]["village_id"]) == 30 and len(s["villages"]["status"]) == 30
    assert [t["tower_id"] for t in s["towers"]] == ["T0", "T1"]
    assert s["summary_lines"][0].startswith("covered villages: ")
    (south, west), (north, east) = s["bounds"]
    assert south < north and west < east
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    code, page, headers = _get(served, "/")
    assert code == 200 and b'id="dz-covered"' in page
    assert headers["Content-Type"].startswith("text/html")
    # offline: no remote reference in the page or its scripts
    for path in ("/", "/static/app.js", "/static/app.css"):
        code, text, _ = _get(served, path)
        assert code == 200
        assert b"http://" not in text and b"https://" not in text, path
    code, js, _ = _get(served, "/static/leaflet.js")
    assert code == 200 and b"sourceMappingURL" not in js and len(js) > 100_000


def test_add_near_dead_villages_then_remove_restores_exactly(served: Served) -> None:
    _, body, _ = _get(served, "/api/state")
    s0 = json.loads(body)
    _, png0, _ = _get(served, "/api/coverage.png")
    lon, lat = lonlat(*DEAD_CORNER_M)
    t0 = time.perf_counter()
    code, r = _post(served, "add", {"lon": lon, "lat": lat, "height_m": 40, "tech": "4G"})
    add_s = time.perf_counter() - t0
    assert code == 200, r
    d = r["delta"]
    tid = d["tower_id"]
    assert tid == "NEW1" and [t["tower_id"] for t in r["towers"]][-1] == tid
    before, after = s0["totals"]["villages_covered"], r["totals"]["villages_covered"]
    assert after > before
    assert d["totals_before"]["villages_covered"] == before
    assert d["totals_after"]["villages_covered"] == after
    assert len(d["newly_covered"]) - len(d["newly_lost"]) == after - before
    assert d["summary_lines"][0] == f"covered villages: {before}/30 → {after}/30"
    # the page's status string follows the delta
    gained = {v["village_id"] for v in d["newly_covered"]}
    ids = s0["villages"]["village_id"]
    for i, vid in enumerate(ids):
        if vid in gained:
            assert s0["villages"]["status"][i] != "c" and r["villages"]["status"][i] == "c"
    # the server's state equals a from-scratch audit of the edited towers
    res = audit(served.app.session.scenario_now(), model="knife", radius_km=3.0)
    assert int((res.villages["status"] == "covered").sum()) == after
    # the coverage image is redrawn
    t0 = time.perf_counter()
    code, png1, headers = _get(served, f"/api/coverage.png?v={r['version']}")
    png_s = time.perf_counter() - t0
    assert code == 200 and headers["Content-Type"] == "image/png"
    assert int(headers["X-Deadzone-Version"]) == r["version"]
    a0 = np.asarray(Image.open(io.BytesIO(png0)).convert("RGBA"))
    a1 = np.asarray(Image.open(io.BytesIO(png1)).convert("RGBA"))
    assert a0.shape == a1.shape
    assert (a1[..., 3] > 0).sum() > (a0[..., 3] > 0).sum()  # more cells with signal
    print(f"add: {add_s:.3f} s, coverage.png: {png_s:.3f} s")

    code, r2 = _post(served, "remove", {"tower_id": tid})
    assert code == 200, r2
    assert r2["totals"] == s0["totals"]
    assert r2["villages"]["status"] == s0["villages"]["status"]
    assert [t["tower_id"] for t in r2["towers"]] == ["T0", "T1"]
    _, png2, _ = _get(served, f"/api/coverage.png?v={r2['version']}")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png2)).convert("RGBA")), a0)


def test_move_and_edit_then_undo(served: Served) -> None:
    _, body, _ = _get(served, "/api/state")
    s0 = json.loads(body)
    t1 = next(t for t in s0["towers"] if t["tower_id"] == "T1")
    lon, lat = lonlat(4500.0, 4500.0)
    code, r = _post(served, "move", {"tower_id": "T1", "lon": lon, "lat": lat})
    assert code == 200, r
    moved = next(t for t in r["towers"] if t["tower_id"] == "T1")
    assert moved["lon"] == pytest.approx(lon) and moved["lat"] == pytest.approx(lat)
    code, r = _post(served, "edit", {"tower_id": "T1", "height_m": 80.5, "eirp_dbm": 64})
    assert code == 200, r
    edited = next(t for t in r["towers"] if t["tower_id"] == "T1")
    assert edited["height_m"] == 80.5 and edited["eirp_dbm"] == 64
    assert r["delta"]["action"].startswith("edit T1")
    code, r = _post(
        served, "edit", {"tower_id": "T1", "height_m": t1["height_m"], "eirp_dbm": t1["eirp_dbm"]}
    )
    assert code == 200, r
    code, r = _post(served, "move", {"tower_id": "T1", "lon": t1["lon"], "lat": t1["lat"]})
    assert code == 200, r
    assert r["villages"]["status"] == s0["villages"]["status"]
    assert r["totals"] == s0["totals"]


def test_status_letters_follow_the_session_and_village_rows(served: Served) -> None:
    app = served.app
    lon, lat = lonlat(*DEAD_CORNER_M)
    code, r = _post(served, "add", {"lon": lon, "lat": lat, "height_m": 60})
    assert code == 200
    try:
        # the status letters the app keeps from the deltas == the session's full audit
        truth = app.session.result.villages
        assert r["villages"]["status"] == "".join(
            {"covered": "c", "marginal": "m", "dead": "d", "unknown": "u"}[s]
            for s in truth["status"]
        )
        assert r["totals"]["villages_covered"] == int((truth["status"] == "covered").sum())
        i = next(k for k, c in enumerate(r["villages"]["status"]) if c == "c")
        code, body, _ = _get(served, f"/api/village?i={i}")
        assert code == 200
        row = json.loads(body)
        assert row["village_id"] == truth["village_id"].iloc[i]
        assert row["status"] == "covered" and row["version"] == r["version"]
        assert row["best_rx_dbm"] == pytest.approx(truth["best_rx_dbm"].iloc[i], abs=0.06)
        assert row["commune"] in ("Xã Mường Tè", "Xã Pa Ủ")
    finally:
        _post(served, "remove", {"tower_id": r["delta"]["tower_id"]})
    for query, want in (
        ("i=30", 404),
        ("i=-1", 400),
        ("i=1.5", 400),
        ("i=", 400),
        ("", 400),
        ("j=1", 400),
        ("i=1&i=2", 400),
        ("i=%31", 400),
        ("i=1e3", 400),
        ("i=9999999999", 400),
    ):
        code, body, _ = _get(served, "/api/village?" + query)
        assert code == want, (query, code)
        assert json.loads(body)["status"] == want


def test_towers_csv(served: Served) -> None:
    code, body, headers = _get(served, "/api/towers.csv")
    assert code == 200 and headers["Content-Type"].startswith("text/csv")
    lines = body.decode("utf-8").splitlines()
    assert lines[0].startswith("tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["T0", "T1"]


def _inside() -> tuple[float, float]:
    return lonlat(3000.0, 3000.0)


@pytest.mark.parametrize(
    ("action", "body", "needle"),
    [
        ("add", None, "not valid JSON"),
        ("add", [1, 2], "JSON object"),
        ("add", {"lon": "x", "lat": 0, "height_m": 30}, "lon was"),
        ("add", {"lat": 1.0, "height_m": 30}, "missing key 'lon'"),
        ("add", {"LON": 1.0, "lat": 1.0, "height_m": 30}, "unknown key"),
        ("add", {"IN": 1, "height_m": True}, "unknown key"),
        ("add", "IN height_m=0", "height_m was 0; expected 1..500 m"),
        ("add", "IN height_m=501", "height_m was 501"),
        ("add", "IN height_m=true", "expected a number"),
        ("add", "IN height_m='40'", "expected a number"),
        ("add", "IN eirp_dbm=200", "eirp_dbm was 200"),
        ("add", "IN freq_mhz=10", "freq_mhz was 10"),
        ("add", "IN freq_mhz=1e9", "freq_mhz was"),
        ("add", "IN tech='6G'", "expected one of 2G, 3G, 4G, 5G"),
        ("add", "IN tilt_deg=91", "tilt_deg was 91"),
        ("add", "IN beamwidth_deg=0", "beamwidth_deg was 0"),
        ("add", "IN tower_id='X'", "unknown key"),
        ("add", "OUT lon", "lon was"),
        ("add", "OUT lat", "lat was"),
        ("add", "RAW NaN", "NaN is not allowed"),
        ("add", "RAW Infinity", "Infinity is not allowed"),
        ("add", "RAW dup", "appears twice"),
        ("add", "RAW latin1", "not UTF-8"),
        ("add", "RAW deep", "not valid JSON"),
        ("move", {"tower_id": "T0", "lon": 1.0}, "missing key 'lat'"),
        ("move", {"tower_id": 7, "lon": 1.0, "lat": 1.0}, "tower_id was 7"),
        ("edit", {"tower_id": "T0"}, "give at least one of"),
        ("edit", {"tower_id": "T0", "lon": 1.0}, "unknown key"),
        ("edit", {"tower_id": "", "height_m": 30}, "1..100 characters"),
        ("edit", {"tower_id": "T0\n", "height_m": 30}, "control characters"),
        ("edit", {"tower_id": "T0", "height_m": -5}, "height_m was -5"),
        # issue 18 item 7: a 400-digit integer was a 500 (OverflowError)
        ("edit", {"tower_id": "T0", "height_m": 10**400}, "expected a finite number"),
        ("remove", {}, "missing key 'tower_id'"),
        ("remove", {"tower_id": ["T0"]}, "expected a string"),
    ],
)
def test_bad_bodies_answer_400(served: Served, action: str, body: Any, needle: str) -> None:
    s = served.app.bounds
    lon, lat = _inside()
    raw = None
    if body is None:
        raw = b"{lon: 1"
    elif isinstance(body, str) and body.startswith("IN "):
        key, _, value = body[3:].partition("=")
        b = {"lon": lon, "lat": lat, "height_m": 30.0}
        b[key] = json.loads(value.replace("'", '"'))
        body = b
    elif isinstance(body, str) and body.startswith("OUT "):
        b = {"lon": lon, "lat": lat, "height_m": 30.0}
        b[body[4:]] = (s.east + 0.01) if body[4:] == "lon" else (s.north + 0.01)
        body = b
    elif isinstance(body, str) and body.startswith("RAW "):
        raw = {
            "NaN": b'{"lon": NaN, "lat": 1, "height_m": 30}',
            "Infinity": b'{"lon": 1, "lat": 1, "height_m": Infinity}',
            "dup": f'{{"lon": {lon}, "lon": {lon}, "lat": {lat}, "height_m": 30}}'.encode(),
            "latin1": '{"tower_id": "Thôn"}'.encode("latin-1"),
            "deep": b"[" * 30_000 + b"]" * 30_000,
        }[body[4:]]
    before = served.app.version
    code, r = _post(served, action, body, raw=raw)
    assert code == 400, r
    assert needle in r["error"], r["error"]
    assert r["status"] == 400
    assert served.app.version == before  # nothing was applied


def test_unknown_tower_is_404_and_changes_nothing(served: Served) -> None:
    before = served.app.version
    for action, body in (
        ("remove", {"tower_id": "NOPE"}),
        ("edit", {"tower_id": "NOPE", "height_m": 30}),
        ("move", {"tower_id": "../../etc/passwd", "lon": _inside()[0], "lat": _inside()[1]}),
    ):
        code, r = _post(served, action, body)
        assert code == 404 and "no tower" in r["error"]
    assert served.app.version == before


def test_oversize_body_is_413(served: Served) -> None:
    pad = "x" * (MAX_BODY_BYTES + 10)
    raw = json.dumps({"tower_id": "T0", "pad": pad}).encode()
    code, r = _post(served, "remove", None, raw=raw)
    assert code == 413 and "limit" in r["error"]
    # a huge announced length is refused without reading the body
    host = _host(served)
    code, _ = _raw(
        served,
        b"POST /api/add HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n{",
    )
    assert code == 413
    assert [t for t in served.app.session.towers["tower_id"]] == ["T0", "T1"]


def test_body_framing_and_content_type(served: Served) -> None:
    host = _host(served)
    ok = json.dumps({"tower_id": "NOPE"}).encode()
    code, _ = _raw(
        served,
        b"POST /api/remove HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(len(ok)).encode() + b"\r\nConnection: close\r\n\r\n" + ok,
    )
    assert code == 415  # a cross-site form or text/plain fetch cannot edit
    code, _ = _raw(
        served,
        b"POST /api/remove HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert code == 411
    code, _ = _raw(
        served,
        b"POST /api/remove HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    )
    assert code == 411
    code, _ = _raw(
        served,
        b"POST /api/remove HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: -1\r\nConnection: close\r\n\r\n",
    )
    assert code == 400


@pytest.mark.parametrize(
    "target",
    [
        "/../../etc/passwd",
        "/static/../../etc/passwd",
        "/static/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e%2f%2e%2e%2fweb%2fapp.py",
        "/static/..%5c..%5capp.py",
        "/static/leaflet.js/../../../../etc/passwd",
        "/static//etc/passwd",
        "//etc/passwd",
        "/etc/passwd",
        "/static/app.py",
        "/static/../app.py",
        "/app.py",
        "/web/app.py",
        "/deadzone/web/app.py",
        "/static/index.html",
        "/static/",
        "/static",
        "/_vendor/leaflet.js",
        "/static/app.js%00.png",
        "/inputs/dem.tif",
        "/api/../static/app.js",
        "/api/state/../../etc/passwd",
        "file:///etc/passwd",
        "http://127.0.0.1/etc/passwd",
        "/C:/Windows/win.ini",
    ],
)
def test_path_traversal_and_unlisted_files_are_refused(served: Served, target: str) -> None:
    host = _host(served)
    code, body = _raw(
        served,
        b"GET "
        + target.encode()
        + b" HTTP/1.1\r\nHost: "
        + host
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert code in (400, 404), (target, code)
    assert b"root:" not in body and b"import " not in body and b"def " not in body
    assert len(body) < 1000


def test_host_origin_and_method_checks(served: Served) -> None:
    port = served.host_port[1]
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host
    code, _ = _raw(
        served,
        f"GET /api/state HTTP/1.1\r\nHost: evil.example:{port}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert code == 403
    body = json.dumps({"tower_id": "T0"}).encode()
    code, _ = _raw(
        served,
        f"POST /api/remove HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://evil.example\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body,
    )
    assert code == 403
    assert "T0" in set(served.app.session.towers["tower_id"])
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, "/api/state")
        assert conn.getresponse().status == 405, method
        conn.close()
    # same-origin POST from the page itself is accepted (empty change -> 400, not 403)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "POST",
        "/api/edit",
        body=json.dumps({"tower_id": "T0"}),
        headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"},
    )
    assert conn.getresponse().status == 400
    conn.close()


def test_concurrent_edits_are_serialised(served: Served) -> None:
    _, body, _ = _get(served, "/api/state")
    s0 = json.loads(body)
    spots = [lonlat(x, y) for x, y in ((5000.0, 600.0), (5400.0, 900.0), (4800.0, 400.0))]
    results: list[tuple[int, Any]] = []

    def add(lon: float, lat: float) -> None:
        results.append(_post(served, "add", {"lon": lon, "lat": lat, "height_m": 35}))

    threads = [threading.Thread(target=add, args=p) for p in spots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [c for c, _ in results] == [200, 200, 200]
    ids = sorted(r["delta"]["tower_id"] for _, r in results)
    assert len(set(ids)) == 3
    for tid in ids:
        code, r = _post(served, "remove", {"tower_id": tid})
        assert code == 200
    assert r["totals"] == s0["totals"] and r["villages"]["status"] == s0["villages"]["status"]


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("[::1]") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.com") and not is_loopback("::")


def test_other_loopback_addresses_serve_their_own_host(served: Served) -> None:
    from deadzone.web import make_server

    server = make_server(served.app, host="127.0.0.2", port=0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    try:
        assert server.url.startswith("http://127.0.0.2:")
        with urllib.request.urlopen(server.url + "api/state", timeout=30) as r:
            assert r.status == 200
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def test_malformed_requests_get_json_errors(served: Served) -> None:
    host = _host(served)
    port = served.host_port[1]
    for request, want in (
        (b"GET / HTTP/9.9\r\nHost: " + host + b"\r\n\r\n", 505),
        (b"GET / HTTP/1.1 extra\r\nHost: " + host + b"\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", 414),
        (b"BREW /api/state HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n", 501),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        if data.startswith(b"HTTP/"):
            head, _, body = data.partition(b"\r\n\r\n")
            assert int(head.split(b" ", 2)[1]) == want
        else:  # no usable HTTP version: the answer is the body alone (HTTP/0.9 style)
            body = data
        assert json.loads(body)["status"] == want, (request[:30], data[:200])


def _own_server(served: Served, monkeypatch, host: str = "127.0.0.1", slots: int | None = None):  # noqa: ANN001, ANN202
    """A second server over the same app (bound to ``host``), in a thread."""
    import threading

    from deadzone.web import app as app_mod

    if slots is not None:
        monkeypatch.setattr(app_mod, "MAX_CONNECTIONS", slots)
    srv = app_mod.make_server(served.app, host=host, port=0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    return srv, t


def _stop(srv, t) -> None:  # noqa: ANN001
    srv.shutdown()
    srv.server_close()
    t.join(5)


def test_lan_binding_refuses_dns_names_in_host(served: Served, monkeypatch) -> None:  # noqa: ANN001
    """Issue 18 item 7: bound to another interface there was no Host check, so
    DNS rebinding from a page in the planner's own browser could drive it."""
    srv, t = _own_server(served, monkeypatch, host="0.0.0.0")
    try:
        port = srv.server_address[1]
        other = Served(served.url, served.app, ("127.0.0.1", port))
        for host, want in ((f"evil.example:{port}", 403), (f"192.168.1.20:{port}", 200),
                           (f"127.0.0.1:{port}", 200), ("", 403)):
            code, body = _raw(other, f"GET /api/state HTTP/1.1\r\nHost: {host}\r\n"
                                     "Connection: close\r\n\r\n".encode())
            assert code == want, (host, body[:200])
    finally:
        _stop(srv, t)


def test_connections_are_capped(served: Served, monkeypatch) -> None:  # noqa: ANN001
    """Issue 18 item 7: threads were not capped; a flood of idle connections
    held one thread each."""
    srv, t = _own_server(served, monkeypatch, slots=2)
    try:
        host, port = srv.server_address[:2]
        idle = [socket.create_connection((host, port), timeout=10) for _ in range(2)]
        time.sleep(0.3)  # both accepted and holding their threads
        with socket.create_connection((host, port), timeout=10) as third:
            assert third.recv(100).startswith(b"HTTP/1.1 503")
        for s in idle:
            s.close()
        time.sleep(0.3)
        code, _ = _raw(Served(served.url, served.app, (host, port)),
                       f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Connection: close\r\n\r\n".encode())
        assert code == 200  # slots are given back
    finally:
        _stop(srv, t)


def test_a_client_that_went_away_is_one_log_line(served: Served, caplog, capsys) -> None:  # noqa: ANN001
    """Issue 18 item 7: clients that disconnected left BrokenPipe tracebacks."""
    from deadzone.web.app import _Server

    fake = _Server.__new__(_Server)
    try:
        raise BrokenPipeError(32, "Broken pipe")
    except BrokenPipeError:
        with caplog.at_level("INFO", logger="deadzone.web.app"):
            fake.handle_error(None, ("127.0.0.1", 5555))
    assert "connection ended (BrokenPipeError)" in caplog.text
    assert "Traceback" not in capsys.readouterr().err


def test_a_header_trickle_is_cut_at_the_deadline(served: Served, monkeypatch) -> None:  # noqa: ANN001
    """Issue 18 item 7: a header trickle (a byte every few seconds, each within
    the socket timeout) held a connection and its thread open forever."""
    from deadzone.web import app as app_mod

    monkeypatch.setattr(app_mod, "REQUEST_DEADLINE_S", 1.0)
    srv, t = _own_server(served, monkeypatch)
    try:
        host, port = srv.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(b"GET /api/state HTTP/1.1\r\n")
            t0 = time.monotonic()
            closed = False
            while time.monotonic() - t0 < 5.0:
                try:
                    s.sendall(b"X")
                    s.settimeout(0.2)
                    if s.recv(100) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            assert closed and time.monotonic() - t0 < 3.0
        # a normal request on the same server is answered
        code, _ = _raw(Served(served.url, served.app, (host, port)),
                       f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Connection: close\r\n\r\n".encode())
        assert code == 200
    finally:
        _stop(srv, t)
