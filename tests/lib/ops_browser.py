#!/usr/bin/python3
"""The ops panel in a real browser (headless Chromium through Selenium, Debian packages): used by
tests/t/81-ops-browser.t. Prints TAP lines ("ok N - ..."), one per check; screenshots go to SHOTS.
Arguments: BASE_URL (http://localhost:PORT) TENANT_HOST_URL SHOTS STAFF_EMAIL NONSTAFF_EMAIL PASSWORD."""
import json, os, sys, time, urllib.request
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

base, tenant_url, shots, staff, plain, pw, dl = sys.argv[1:8]
n = 0
def ok(cond, name):
    global n
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)

opts = Options()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900",
          "--host-resolver-rules=MAP localhost 127.0.0.1, MAP acme.localhost 127.0.0.1"):
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
opts.add_experimental_option("prefs", {"download.default_directory": dl, "download.prompt_for_download": False})
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
d.set_page_load_timeout(120)
wait = WebDriverWait(d, 120)
def shot(name):
    d.save_screenshot(os.path.join(shots, name + ".png"))
def path():
    return d.current_url.split(base.split("://")[1], 1)[-1] if base.split("://")[1] in d.current_url else d.current_url
def until(cond):
    try:
        wait.until(lambda x: cond())
        return True
    except Exception:
        return False
def go(el, part):
    """Clicks a link or button and waits for the next page (its URL holds part, and it has loaded)."""
    old = d.find_element(By.TAG_NAME, "html")
    el.click()
    until(lambda: part in d.current_url and d.execute_script("return document.readyState") == "complete"
          and not old.id == d.find_element(By.TAG_NAME, "html").id)
def login(email):
    d.delete_all_cookies()
    d.get(base + "/ops/telemetry/?tenant_slug=acme")
    d.find_element(By.ID, "username").send_keys(email)
    d.find_element(By.ID, "password").send_keys(pw)
    go(d.find_element(By.ID, "login"), "/ops/")

try:
    d.get(base + "/ops/")
    ok("/ops/login/?next=%2Fops%2F" in d.current_url, "anonymous: redirected to the login page with next")
    shot("01-login")
    login(plain)
    ok("/ops/login/" in d.current_url and "staff account" in d.page_source, "non-staff: refused, still on the login page")
    login(staff)
    ok("/ops/telemetry/?tenant_slug=acme" in d.current_url, "staff login: back to next")
    d.get(base + "/ops/")
    Select(d.find_element(By.ID, "tenant_slug")).select_by_value("acme")
    Select(d.find_element(By.ID, "bucket")).select_by_visible_text("5m")
    l = d.find_element(By.ID, "limit"); l.clear(); l.send_keys("30")
    shot("02-home")
    go(d.find_element(By.ID, "query"), "/ops/telemetry/")
    rows = d.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    total = int(d.find_element(By.ID, "total").get_attribute("data-total"))
    ok(len(rows) == 30 and total == 80, "tenant selected, 5m buckets: 30 rows of %d" % total)
    shot("03-telemetry")
    go(d.find_element(By.ID, "next"), "offset=30")
    ok(len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 30 and "offset=30" in d.current_url, "next page: rows 31-60")
    go(d.find_element(By.ID, "next"), "offset=60")
    ok(len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 20, "last page: 20 rows")
    go(d.find_element(By.CSS_SELECTOR, "a.drill"), "/drilldown/")
    wait.until(lambda x: x.execute_script("return window.Chart && Chart.getChart('chart') ? 1 : 0"))
    pts = d.execute_script("var c=Chart.getChart('chart');return c.data.datasets.map(function(s){return s.data.length;});")
    nrows = len(d.find_elements(By.CSS_SELECTOR, "#readings tbody tr"))
    ok(nrows == 100 and pts == [100, 100, 100], "drill-down: the chart has a point per reading (%d rows, %s)" % (nrows, pts))
    band = d.execute_script("var c=Chart.getChart('chart').data.datasets;return c[0].data.every(function(p,i){return p.y<=c[2].data[i].y&&c[2].data[i].y<=c[1].data[i].y;});")
    ok(band, "the min/max band holds every reading")
    shot("04-drilldown")
    d.get(base + "/ops/dashboard/?tenant_slug=acme&bucket=5m&sensor_ids=t&sensor_ids=h")
    wait.until(lambda x: x.execute_script("return window.Chart && Chart.getChart('chart') ? 1 : 0"))
    sets = d.execute_script("return Chart.getChart('chart').data.datasets.map(function(s){return [s.label,s.data.length];});")
    ok(sets == [["t", 20], ["h", 20]], "dashboard: two sensors charted, 20 points each (%s)" % sets)
    shot("05-dashboard")
    # CSV: the export button of the list page
    d.get(base + "/ops/telemetry/?tenant_slug=acme&bucket=1h&limit=200")
    d.find_element(By.ID, "export-csv").click()
    f = None
    for _ in range(600):
        got = [x for x in os.listdir(dl) if x.endswith(".csv")]
        if got:
            f = os.path.join(dl, got[0]); break
        time.sleep(0.1)
    lines = open(f, newline="").read().split("\r\n") if f else []
    ok(f is not None and lines[0] == "bucket,device_id,sensor_id,avg,min,max,last,count" and len([x for x in lines[1:] if x]) == 8,
       "CSV downloaded: the header and 8 rows (%s)" % (os.path.basename(f) if f else None))
    # an export job through S3
    d.get(base + "/ops/exports/")
    Select(d.find_element(By.ID, "job-tenant")).select_by_value("acme")
    d.find_element(By.ID, "job-sensor").send_keys("t")
    go(d.find_element(By.ID, "job-submit"), "msg=Export")
    ok("msg=Export" in d.current_url, "export job requested")
    for _ in range(300):
        d.get(base + "/ops/exports/")
        r = d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        if r and r[0].get_attribute("data-status") in ("completed", "failed"):
            break
        time.sleep(0.2)
    ok(r and r[0].get_attribute("data-status") == "completed", "the job completed (%s)" % (r[0].text if r else None))
    shot("06-exports")
    href = d.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    # The browser would save the CSV (no page to look at): the same request with its session cookie.
    import http.client
    host = base.split("://")[1]
    c = http.client.HTTPConnection(host, timeout=60)
    c.request("GET", href.split(host, 1)[1], headers={"Cookie": "tsk_ops=" + d.get_cookie("tsk_ops")["value"]})
    resp = c.getresponse()
    loc = resp.getheader("Location") or ""
    ok(resp.status == 302 and "X-Amz-Signature=" in loc and "X-Amz-Expires=86400" in loc, "download: redirected to a presigned URL valid 24 h")
    body = urllib.request.urlopen(loc).read().decode()
    bl = body.split("\r\n")
    import re, urllib.error
    bad = re.sub(r"X-Amz-Signature=([0-9a-f])", lambda m: "X-Amz-Signature=" + ("0" if m.group(1) != "0" else "1"), loc)
    try:
        code = urllib.request.urlopen(bad).status
    except urllib.error.HTTPError as e:
        code = e.code
    ok(code == 403, "a tampered signature is refused by the S3 server (%s)" % code)
    ok(bl[0] == "timestamp,sensor_id,value,unit" and len([x for x in bl[1:] if x]) == 200, "the S3 test server serves the file: header and 200 rows")
    # stale CSRF: a token from the page, the session replaced by a new login
    d.get(base + "/ops/")
    old = d.find_element(By.NAME, "csrfmiddlewaretoken").get_attribute("value")
    login(staff)
    d.get(base + "/ops/")
    d.execute_script("document.querySelector('form.inline input[name=csrfmiddlewaretoken]').value=arguments[0];"
                     "document.querySelector('form.inline').submit();", old)
    until(lambda: "CSRF" in d.page_source)
    ok("CSRF" in d.page_source, "a POST with a stale CSRF token is refused")
    d.get(base + "/ops/audit/")
    acts = set(e.text for e in d.find_elements(By.CSS_SELECTOR, "#audit td.action"))
    want = {"login", "view_list", "view_drilldown", "view_dashboard", "export_csv", "export_async", "export_download", "csrf_refused"}
    ok(want <= acts, "an audit row per action (%s)" % sorted(acts))
    shot("07-audit")
    d.get(tenant_url + "/ops/")
    ok("Ops panel is only accessible via public schema" in d.page_source, "tenant host: /ops/ answers 404")
    shot("08-tenant-host")
finally:
    d.quit()
print("1..%d" % n)
