// Loads a page with the official tracker (@plausible-analytics/tracker) in headless Chromium, pointed at a
// local Tally, and checks through the v2 query API that the pageview, a custom event with props and the
// engagement event were stored with the right attributes.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import http from 'node:http'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'

const BIN = process.env.TALLY_BIN
const SITE = 'tracker-e2e.example'
const TOKEN = 'e2e-admin-token'
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
let tally, pages, tallyPort, pagePort, key, dataDir

const freePort = () => new Promise((resolve) => {
  const s = http.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
})
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function api (method, p, body, token = TOKEN) {
  const res = await fetch(`http://127.0.0.1:${tallyPort}${p}`, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const json = await res.json()
  assert.ok(res.status < 300, `${method} ${p} -> ${res.status} ${JSON.stringify(json)}`)
  return json
}

const query = (q) => api('POST', '/api/v2/query', { site_id: SITE, date_range: 'all', ...q }, key)

before(async () => {
  assert.ok(BIN, 'set TALLY_BIN to the tally binary')
  tallyPort = await freePort()
  pagePort = await freePort()
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-e2e-'))
  tally = spawn(BIN, ['serve'], {
    env: { ...process.env, TALLY_DATA_DIR: dataDir, TALLY_LISTEN: `127.0.0.1:${tallyPort}`, TALLY_ADMIN_TOKEN: TOKEN, TALLY_FLUSH_INTERVAL_MS: '200' },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(`http://127.0.0.1:${tallyPort}/api/health`)).ok) break } catch {}
    await sleep(100)
  }
  const team = await api('POST', '/api/admin/teams', { owner_email: 'e2e@example.test', name: 'E2E' })
  await api('POST', '/api/admin/sites', { team_id: team.id, domain: SITE })
  key = (await api('POST', '/api/admin/api-keys', { user_email: 'e2e@example.test', team_id: team.id })).key

  const trackerJs = fs.readFileSync(new URL('./node_modules/@plausible-analytics/tracker/plausible.js', import.meta.url))
  const html = `<!doctype html><html><head><title>e2e</title></head><body style="height:3000px">
<button id="signup">Sign up</button>
<script type="module">
  import { init, track } from '/plausible.js'
  init({ domain: '${SITE}', endpoint: 'http://127.0.0.1:${tallyPort}/api/event', logging: true })
  document.getElementById('signup').addEventListener('click', () => {
    track('Signup', { props: { plan: 'pro' }, callback: (r) => { window.signupResult = r } })
  })
  window.trackerReady = true
</script></body></html>`
  pages = http.createServer((req, res) => {
    if (req.url.startsWith('/plausible.js')) { res.writeHead(200, { 'Content-Type': 'text/javascript' }); res.end(trackerJs); return }
    res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(html)
  }).listen(pagePort, '127.0.0.1')
})

after(async () => {
  if (tally) { tally.kill('SIGTERM'); await new Promise((r) => tally.on('exit', r)) }
  if (pages) pages.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
})

test('the official tracker records a pageview, a custom event with props and an engagement event', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-blink-features=AutomationControlled',
      `--host-resolver-rules=MAP ${SITE} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`]
  })
  try {
    const context = await browser.newContext({ userAgent: UA })
    const page = await context.newPage()
    await page.goto(`http://${SITE}:${pagePort}/blog/post?utm_source=newsletter`)
    await page.waitForFunction(() => window.trackerReady === true)
    await sleep(500)
    await page.mouse.wheel(0, 1500)
    await page.click('#signup')
    await page.waitForFunction(() => window.signupResult !== undefined, null, { timeout: 10000 })
    const result = await page.evaluate(() => window.signupResult)
    assert.equal(result.status, 202, 'the tracker sees 202 thanks to CORS')
    await sleep(1200) // some engaged time
    await page.close({ runBeforeUnload: true }) // hiding the page sends the engagement event
    await sleep(1000)
  } finally {
    await browser.close()
  }
  await api('POST', '/api/admin/flush', {})

  const pv = await query({ metrics: ['visitors', 'pageviews'], dimensions: ['event:page', 'visit:browser', 'visit:os', 'visit:utm_source'] })
  assert.deepEqual(pv.results, [{ dimensions: ['/blog/post', 'Chrome', 'GNU/Linux', 'newsletter'], metrics: [1, 1] }])

  const custom = await query({ metrics: ['events'], dimensions: ['event:name', 'event:props:plan'], filters: [['is', 'event:name', ['Signup']]] })
  assert.deepEqual(custom.results, [{ dimensions: ['Signup', 'pro'], metrics: [1] }])

  const engagement = await query({ metrics: ['scroll_depth', 'time_on_page'], filters: [['is', 'event:page', ['/blog/post']]] })
  const [scroll, top] = engagement.results[0].metrics
  assert.ok(scroll !== null && scroll > 0, `scroll depth recorded: ${JSON.stringify(engagement)}`)
  assert.ok(top !== null && top >= 1, `time on page recorded: ${JSON.stringify(engagement)}`)

  const bounce = await query({ metrics: ['visits', 'bounce_rate'] })
  assert.deepEqual(bounce.results[0].metrics, [1, 0], 'the interactive custom event ends the bounce')
})
