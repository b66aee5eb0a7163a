/// The console's stylesheet and script, served from the binary (`/console/assets/…`).
enum ConsoleAssets {
    static let css = #"""
        :root { --ink: #1d2433; --muted: #5b6477; --line: #d9dee8; --paper: #ffffff; --wash: #f4f6fa; --accent: #1f5fbf; --bad: #b3261e; --good: #1b7a3d;
                --s0: #1f5fbf; --s1: #d9822b; --s2: #1b7a3d; --s3: #8e44ad; --s4: #c0392b; --s5: #16a2b8; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif;
               color: var(--ink); background: var(--wash); }
        a { color: var(--accent); }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .6rem 1rem; background: var(--ink); color: #fff; }
        header.top a { color: #fff; text-decoration: none; }
        .brand { font-weight: 700; font-size: 1.1rem; }
        .brand span { font-weight: 400; opacity: .8; }
        nav#console-nav { display: flex; flex-wrap: wrap; gap: .25rem; flex: 1; }
        nav#console-nav a { padding: .25rem .6rem; border-radius: 4px; }
        nav#console-nav a[aria-current=page], nav#console-nav a:hover { background: rgba(255,255,255,.18); }
        .session { display: flex; align-items: center; gap: .6rem; font-size: .9rem; }
        .session form { margin: 0; }
        .session button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.5); border-radius: 4px; padding: .15rem .6rem; cursor: pointer; }
        main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
        h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
        h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
        .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: .8rem; margin-bottom: 1rem; }
        .tile { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: .7rem .9rem; }
        .tile .value { font-size: 1.6rem; font-weight: 700; }
        .tile .name { color: var(--muted); font-size: .85rem; }
        .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); gap: 1rem; }
        .card, figure.plot { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: .8rem; margin: 0 0 1rem; overflow-x: auto; }
        figure.plot figcaption { font-weight: 600; margin-top: .3rem; }
        svg.plot-svg { width: 100%; max-width: 820px; height: auto; display: block; margin: 0 auto; }
        svg .axis { stroke: var(--muted); stroke-width: 1; fill: none; }
        svg .grid { stroke: var(--line); stroke-width: 1; }
        svg .label, svg text { fill: var(--muted); font-size: 11px; }
        svg .bar { fill: var(--s0); }
        svg .marker { stroke: var(--bad); stroke-width: 2; }
        svg polyline.s0 { stroke: var(--s0); } svg polyline.s1 { stroke: var(--s1); } svg polyline.s2 { stroke: var(--s2); }
        svg polyline.s3 { stroke: var(--s3); } svg polyline.s4 { stroke: var(--s4); } svg polyline.s5 { stroke: var(--s5); }
        svg polyline { fill: none; stroke-width: 2; }
        svg .s0:not(polyline) { fill: var(--s0); } svg .s1:not(polyline) { fill: var(--s1); } svg .s2:not(polyline) { fill: var(--s2); }
        svg .s3:not(polyline) { fill: var(--s3); } svg .s4:not(polyline) { fill: var(--s4); } svg .s5:not(polyline) { fill: var(--s5); }
        details.plot-table summary { cursor: pointer; color: var(--muted); font-size: .85rem; }
        table { border-collapse: collapse; width: 100%; background: var(--paper); font-size: .9rem; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--wash); font-weight: 600; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 1rem; }
        form.inline { display: inline-flex; flex-wrap: wrap; gap: .3rem; align-items: center; margin: 0; }
        form.stack { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: .6rem; align-items: end;
                     background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: .8rem; margin-bottom: 1rem; }
        form.stack label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); gap: .2rem; }
        input, select, textarea, button { font: inherit; padding: .3rem .45rem; border: 1px solid var(--line); border-radius: 4px; background: #fff; color: var(--ink); }
        button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
        button.danger { background: var(--bad); border-color: var(--bad); }
        .error { color: var(--bad); font-weight: 600; }
        .notice { color: var(--good); font-weight: 600; }
        .muted { color: var(--muted); }
        .pill { display: inline-block; padding: 0 .45rem; border-radius: 999px; background: var(--wash); border: 1px solid var(--line); font-size: .8rem; }
        .sign-in { max-width: 420px; margin: 3rem auto; background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 1.2rem; }
        .sign-in input { width: 100%; margin: .4rem 0 .8rem; }
        pre { white-space: pre-wrap; word-break: break-all; font-size: .8rem; margin: 0; }
        @media (max-width: 640px) {
          header.top { padding: .5rem; }
          main { padding: .6rem; }
          .tile .value { font-size: 1.3rem; }
          th, td { padding: .3rem; }
        }
        """#

    /// The tab's icon: a blue square with "pdx".
    static let icon = #"""
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f5fbf"/><text x="16" y="21" font-size="12" font-family="sans-serif" font-weight="700" fill="#fff" text-anchor="middle">pdx</text></svg>
        """#

    static let js = #"""
        // pdx console: a live page (main[data-live]) hears from /console/events when the market or the queue
        // changed, and then reads itself again and swaps its content (at most once a second; not while a
        // form on it is being filled in).
        (function () {
          var main = document.getElementById('content');
          if (!main || !main.dataset.live || !window.EventSource) return;
          var source = new EventSource('/console/events?topic=' + encodeURIComponent(main.dataset.live));
          var pending = false;
          function refresh() {
            var active = document.activeElement;
            if (active && active.form && main.contains(active)) { setTimeout(refresh, 2000); return; }
            fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
              .then(function (response) { return response.ok ? response.text() : null; })
              .then(function (text) {
                pending = false;
                if (!text) return;
                var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('content');
                if (fresh) { main.innerHTML = fresh.innerHTML; main.dataset.refreshed = String(Date.now()); }
              })
              .catch(function () { pending = false; });
          }
          source.addEventListener('refresh', function () {
            if (pending) return;
            pending = true;
            setTimeout(refresh, 1000);
          });
          window.addEventListener('pagehide', function () { source.close(); });
        })();
        """#
}
