import { startGlobalTopology } from '/work/wt/local-global/tools/local-topology/global';
const t0 = Date.now();
(async () => {

  const t = await startGlobalTopology({ onOutput: (r, n, l) => { if (!l.includes("\"level\":30")) console.log(`[${r} ${n}] ${(Date.now()-t0)/1000}s ${l.slice(0, 300)}`); } });
  console.log('started in', Date.now() - t0, 'ms', t.url);
  for (const c of ['US', 'FR', 'JP']) {
    const r = await fetch(`${t.url}/api/products`, { headers: { 'cloudfront-viewer-country': c } });
    console.log(c, r.status, r.headers.get('x-served-region'), (await r.text()).slice(0, 100));
  }
  const w = await fetch(`${t.region('eu-west-1').url}/api/users`, { method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({ email: 'a@b.example', password: 'correct horse battery', name: 'A' }) });
  console.log('EU direct POST', w.status, await w.text());
  const t1 = Date.now();
  await t.stop();
  console.log('stopped in', Date.now() - t1);
})().catch((e) => { console.error(e); process.exit(1); });
