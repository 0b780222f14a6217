"""The HTML report's inline style sheet and script (kept here so html.py stays readable)."""

from __future__ import annotations

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--accent:#2563eb;
--bad:#c62828;--good:#2e7d32}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
header{background:#111827;color:#f9fafb;padding:18px 28px}
header h1{margin:0;font-size:20px;font-weight:650}
header .sub{color:#9ca3af;font-size:13px;margin-top:2px}
main{padding:18px 28px 40px;max-width:1500px;margin:0 auto}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;
margin:0 0 16px}
h2{font-size:15px;margin:0 0 12px;font-weight:650}
.cards{display:flex;gap:12px;flex-wrap:wrap;background:none;border:none;padding:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px;
min-width:130px}
.card b{display:block;font-size:24px;font-weight:650}
.card span{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.bad{border-color:#f5c2c0;background:#fdecea}.card.bad b{color:var(--bad)}
.card.good{border-color:#bfe3c3;background:#edf7ee}.card.good b{color:var(--good)}
.gates li{margin:2px 0}.gates .tripped{color:var(--bad);font-weight:600}
.strip{width:100%;height:22px;border-radius:5px;display:block}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin-top:10px;font-size:13px}
.legend i,.dot{display:inline-block;width:10px;height:10px;border-radius:3px;margin-right:6px;
vertical-align:-1px}
.hists{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.hist{width:100%;height:auto}
.hist .bar{fill:#3b82f6}.hist .bar:hover{fill:#1d4ed8}
.hist .grid{stroke:#eef0f3}.axis{stroke:#9aa5b1}
.tick{font-size:10.5px;fill:var(--muted)}.count{font-size:10.5px;fill:#374151}
.h-title{font-size:13px;font-weight:600;fill:var(--ink)}.note,.empty{font-size:11px;fill:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);
padding:6px 8px;white-space:nowrap;cursor:pointer;user-select:none}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
tr.row{cursor:pointer}tr.row:hover td{background:#f8fafc}
tr.row.fail td:first-child{box-shadow:inset 3px 0 var(--bad)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;
white-space:nowrap}
.reason{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
background:#eef2ff;color:#3730a3;border-radius:4px;padding:1px 5px}
.wrap{overflow-x:auto}td.n{white-space:nowrap;font-variant-numeric:tabular-nums}
.none{color:#9aa5b1}.fail-tag{color:var(--bad);font-weight:700;font-size:11px;margin-left:6px}
.span{width:166px;height:14px;display:block}.span-track{fill:#e5e7eb}
.open-tail{fill:none;stroke:#6b7280;stroke-width:1.5}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:12px}
.filters input[type=search]{min-width:260px}
.filters input,.filters select{font:inherit;padding:5px 8px;border:1px solid #cbd2d9;
border-radius:6px;background:#fff}
.filters label{color:var(--muted);font-size:13px}
.shown{margin-left:auto;color:var(--muted);font-size:13px}
tr.detail>td{background:#fbfcfe;padding:10px 14px 14px}
.timeline{width:100%;height:auto;display:block;margin:6px 0}
.lane{stroke:#d6dbe1;stroke-dasharray:3 3}.lane-name{font-size:11px;fill:var(--muted)}
.life{fill:#e8f0fe;stroke:#c3d4f7}.life.open{stroke-dasharray:5 3}
.idle{fill:#fde68a;opacity:.55}.idle-label{font-size:11px;fill:#92400e;font-weight:600}
.ev-label{font-size:10.5px;fill:#374151}.tl-note{font-size:11px;fill:var(--muted)}
.key line{stroke-width:2}
.evidence{margin:4px 0 6px 18px;padding:0}.evidence li{margin:1px 0}
.kv{color:var(--muted);font-size:12.5px}.kv b{color:var(--ink);font-weight:600}
.look{border-left:4px solid var(--line);padding:2px 0 2px 12px;margin:0 0 16px}
.look h3{margin:0 0 2px;font-size:14px}
.layers{font-size:12px;color:var(--muted);display:flex;gap:14px;margin-top:4px}
details summary{cursor:pointer;font-weight:600}
"""

JS = """
(function(){
  const table=document.getElementById('sessions');
  if(!table)return;
  const body=table.tBodies[0];
  const rows=Array.from(body.querySelectorAll('tr.row'));
  const q=document.getElementById('f-text'),cause=document.getElementById('f-cause'),
    reason=document.getElementById('f-reason'),cap=document.getElementById('f-capture'),
    fail=document.getElementById('f-fail'),open=document.getElementById('f-open'),
    shown=document.getElementById('shown');
  function detailOf(r){return document.getElementById('d-'+r.dataset.i);}
  function apply(){
    const text=(q.value||'').trim().toLowerCase();let n=0;
    for(const r of rows){
      const d=r.dataset;
      const ok=(!text||d.text.includes(text))&&(!cause.value||d.cause===cause.value)&&
        (!reason.value||d.reasons.split('|').includes(reason.value))&&
        (!cap||!cap.value||d.capture===cap.value)&&(!fail||!fail.checked||d.fail==='1')&&
        (!open.checked||d.open!=='1');
      r.hidden=!ok;const det=detailOf(r);if(det)det.hidden=!ok||!r.classList.contains('expanded');
      if(ok)n++;
    }
    shown.textContent=n+' of '+rows.length+' sessions';
  }
  for(const el of [q,cause,reason,cap,fail,open]){if(el){el.addEventListener('input',apply);
    el.addEventListener('change',apply);}}
  body.addEventListener('click',function(ev){
    const r=ev.target.closest('tr.row');if(!r)return;
    r.classList.toggle('expanded');const det=detailOf(r);
    if(det)det.hidden=!r.classList.contains('expanded');
  });
  table.tHead.addEventListener('click',function(ev){
    const th=ev.target.closest('th');if(!th||!th.dataset.key)return;
    const key=th.dataset.key,num=th.dataset.num==='1';
    const dir=th.classList.contains('sorted-asc')?-1:1;
    for(const h of table.tHead.querySelectorAll('th')){
      h.classList.remove('sorted-asc','sorted-desc');
    }
    th.classList.add(dir===1?'sorted-asc':'sorted-desc');
    rows.sort(function(a,b){
      let x=a.dataset[key]||'',y=b.dataset[key]||'';
      if(num){x=parseFloat(x);y=parseFloat(y);x=isNaN(x)?Infinity:x;y=isNaN(y)?Infinity:y;}
      return (x<y?-1:x>y?1:0)*dir||(a.dataset.i-b.dataset.i);
    });
    for(const r of rows){body.appendChild(r);const det=detailOf(r);if(det)body.appendChild(det);}
  });
  apply();
})();
"""
