package workshop.room;

/**
 * The dashboard's page, its style and its script, served as they are: nothing comes from another
 * host, and the page runs no inline code, so {@code Content-Security-Policy: default-src 'self'}
 * holds. Every text a learner supplied (names, the check they are stuck on) goes into the page as a
 * text node, never as HTML: a learner named {@code <img src=x onerror=alert(1)>} shows as that.
 */
final class DashboardPage {

    private DashboardPage() {
    }

    static final String HTML = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Workshop room</title>
            <link rel="stylesheet" href="/dashboard.css">
            <script src="/dashboard.js" defer></script>
            </head>
            <body>
            <header>
              <h1>Workshop room</h1>
              <p id="status" data-state="connecting"><span id="connection">connecting…</span><span id="counts"></span><span id="malformed"></span></p>
            </header>
            <ul id="legend" class="legend" aria-label="What the cells mean">
              <li><span class="cell passed">✓</span> every check passes</li>
              <li><span class="cell partly">3/7</span> checks passing</li>
              <li><span class="cell failed">✗</span> no check passes yet</li>
              <li><span class="cell none">·</span> not graded yet</li>
            </ul>
            <p id="waiting">Waiting for the first grade. Learners appear here once they have run
              <code>./jbang join</code> and then <code>./jbang grade</code>.</p>
            <table id="grid" hidden><thead></thead><tbody></tbody></table>
            <section id="stuck" hidden>
              <h2>Stuck on <small>(learners whose latest grade of the lab fails that check first)</small></h2>
              <table id="stuck-table"></table>
            </section>
            <footer id="reading"></footer>
            </body>
            </html>
            """;

    static final String CSS = """
            :root {
              --bg: #ffffff; --ink: #0f1419; --muted: #3f4a55; --line: #c9d1d9; --panel: #f2f4f7;
              --passed: #12703a; --partly: #f2b705; --failed: #b8232b; --none: #e6eaee; --none-ink: #4b5661;
              --changed: #1f5fd6;
            }
            * { box-sizing: border-box; }
            [hidden] { display: none !important; }
            html { font-size: 18px; }
            body {
              margin: 0; padding: 14px 22px 20px; background: var(--bg); color: var(--ink); line-height: 1.3;
              font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
            }
            header {
              display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 8px 24px;
              border-bottom: 3px solid var(--ink); padding-bottom: 6px;
            }
            h1 { font-size: 1.6rem; margin: 0; }
            #status { margin: 0; font-size: 1.1rem; font-weight: 600; }
            #status > span:empty { display: none; }
            #status > span + span::before { content: "·"; margin: 0 .45em; color: var(--muted); }
            #connection::before { content: "●"; margin-right: .3em; color: var(--muted); }
            #status[data-state="live"] #connection::before { color: var(--passed); }
            #status[data-state="waiting"] #connection::before { color: var(--partly); }
            #status[data-state="reconnecting"] #connection::before,
            #status[data-state="problem"] #connection::before { color: var(--failed); }
            #status[data-state="problem"] #connection { color: var(--failed); }
            #malformed { color: var(--failed); }
            .legend { display: flex; flex-wrap: wrap; gap: 6px 26px; list-style: none; margin: 10px 0 4px; padding: 0; font-size: .95rem; }
            .legend li { display: flex; align-items: center; gap: 8px; }
            .legend .cell { display: inline-block; min-width: 2.6em; padding: 1px 6px; text-align: center; border-radius: 5px; font-weight: 700; }
            #grid .legend { flex-direction: column; gap: 5px; margin: 0 0 14px; font-size: .8rem; font-weight: 500; color: var(--ink); }
            #waiting { font-size: 1.4rem; margin: 48px 0; color: var(--muted); }
            code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; background: var(--panel); padding: 0 .25em; border-radius: 3px; }
            #grid { border-collapse: separate; border-spacing: 3px; margin-top: 4px; }
            #grid th.corner { text-align: left; vertical-align: bottom; font-size: .9rem; color: var(--muted); padding: 0 8px 3px 0; }
            #grid th.lab { vertical-align: bottom; padding: 0 0 3px; font-weight: 700; }
            #grid th.lab .lab-name {
              display: block; writing-mode: vertical-rl; transform: rotate(180deg); margin: 0 auto 4px;
              height: 7.4em; font-size: .78rem; font-weight: 600; line-height: 1.15; color: var(--muted); overflow: hidden;
            }
            #grid th.lab .lab-id { display: block; font-size: 1.05rem; }
            #grid th.learner {
              text-align: left; font-size: 1.15rem; font-weight: 700; padding: 0 12px 0 0;
              max-width: 14em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
            }
            .cell { border-radius: 6px; font-weight: 800; }
            #grid td.cell { width: 3.05rem; height: 2rem; text-align: center; font-size: 1.3rem; }
            #grid td.cell.partly { font-size: 1.02rem; }
            .cell.passed { background: var(--passed); color: #ffffff; }
            .cell.partly { background: var(--partly); color: #111111; }
            .cell.failed { background: var(--failed); color: #ffffff; }
            .cell.none { background: var(--none); color: var(--none-ink); }
            #grid td.cell.changed { animation: changed 3s ease-out 1; }
            @keyframes changed { from { box-shadow: 0 0 0 5px var(--changed); } to { box-shadow: 0 0 0 0 transparent; } }
            #stuck h2 { font-size: 1.3rem; margin: 10px 0 4px; }
            #stuck h2 small { font-size: .8rem; font-weight: 500; color: var(--muted); }
            #stuck-table { border-collapse: collapse; width: 100%; }
            #stuck-table tbody { border-top: 2px solid var(--line); }
            #stuck-table th.lab-title {
              text-align: left; vertical-align: top; padding: 5px 14px 5px 0; font-size: .85rem; font-weight: 700; white-space: nowrap;
            }
            #stuck-table th.lab-title .lab-id { margin-right: .35em; font-size: 1.2rem; }
            #stuck-table td { padding: 4px 10px 4px 0; vertical-align: baseline; }
            #stuck-table td.count { width: 2.4em; }
            #stuck-table .count span {
              display: inline-block; min-width: 1.9em; text-align: center; font-weight: 800; background: var(--failed); color: #ffffff;
              border-radius: 999px; padding: 0 .45em;
            }
            #stuck-table td.check-name { font-size: .95rem; font-weight: 600; overflow-wrap: anywhere; }
            #stuck-table td.names { width: 26%; font-size: .9rem; color: var(--muted); overflow-wrap: anywhere; }
            footer { margin-top: 16px; font-size: .8rem; color: var(--muted); }
            """;

    static final String JS = """
            // The room's dashboard: one EventSource, the whole state on every change, the page redrawn
            // from it. Learners' names and checks go in as text nodes only: never as HTML.
            (function () {
              'use strict';
              var SYMBOL = { 'passed': '✓', 'failed': '✗', 'not started': '·' };
              var CLASS = { 'passed': 'passed', 'partly': 'partly', 'failed': 'failed', 'not started': 'none' };
              var state = null;
              var connected = false;
              var previous = {};
              var legend = document.getElementById('legend'); // moves into the grid's corner once there is a grid

              function byId(id) { return document.getElementById(id); }

              function el(tag, className, text) {
                var node = document.createElement(tag);
                if (className) { node.className = className; }
                if (text !== undefined && text !== null) { node.appendChild(document.createTextNode(String(text))); }
                return node;
              }

              function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

              function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

              function renderStatus() {
                var mode, text;
                if (!connected) {
                  mode = state ? 'reconnecting' : 'connecting';
                  text = state ? 'reconnecting…' : 'connecting…';
                } else if (state && state.problem) {
                  mode = 'problem'; text = state.problem;
                } else if (state && state.waiting) {
                  mode = 'waiting'; text = 'waiting for the first grade';
                } else {
                  mode = 'live'; text = 'live';
                }
                byId('status').setAttribute('data-state', mode);
                byId('connection').textContent = text;
                byId('counts').textContent = state && !state.waiting ? plural(state.eventsRead, 'grade read', 'grades read') : '';
                byId('malformed').textContent = state && state.malformedSkipped > 0
                  ? plural(state.malformedSkipped, 'malformed event skipped', 'malformed events skipped') : '';
                byId('reading').textContent = state ? 'Reading ' + state.reading + ' from its beginning; the dashboard writes nothing.' : '';
              }

              function cellText(cell) {
                return cell.status === 'partly' ? cell.passed + '/' + cell.total : SYMBOL[cell.status];
              }

              function renderGrid() {
                var grid = byId('grid');
                var head = grid.tHead;
                var body = grid.tBodies[0];
                clear(head);
                clear(body);
                var top = el('tr');
                var corner = el('th', 'corner');
                corner.appendChild(legend);
                corner.appendChild(document.createTextNode('Learner'));
                top.appendChild(corner);
                state.labs.forEach(function (lab) {
                  var th = el('th', 'lab');
                  th.setAttribute('scope', 'col');
                  th.setAttribute('data-lab', lab.id);
                  th.appendChild(el('span', 'lab-name', lab.name.split('-').join(' ')));
                  th.appendChild(el('span', 'lab-id', lab.id));
                  top.appendChild(th);
                });
                head.appendChild(top);
                var seen = {};
                state.learners.forEach(function (learner) {
                  var row = el('tr');
                  row.setAttribute('data-learner', learner.id);
                  var name = el('th', 'learner', learner.name);
                  name.setAttribute('scope', 'row');
                  row.appendChild(name);
                  learner.cells.forEach(function (cell) {
                    var td = el('td', 'cell ' + CLASS[cell.status], cellText(cell));
                    td.setAttribute('data-learner', learner.id);
                    td.setAttribute('data-lab', cell.lab);
                    td.setAttribute('data-status', cell.status);
                    var key = learner.id + ' ' + cell.lab;
                    if (previous[key] !== undefined && previous[key] !== cell.status) { td.classList.add('changed'); }
                    seen[key] = cell.status;
                    row.appendChild(td);
                  });
                  body.appendChild(row);
                });
                previous = seen;
                grid.hidden = state.learners.length === 0;
                byId('waiting').hidden = state.learners.length > 0;
              }

              function names(list) {
                var shown = list.slice(0, 6).join(', ');
                return list.length > 6 ? shown + ' and ' + (list.length - 6) + ' more' : shown;
              }

              function renderStuck() {
                var table = byId('stuck-table');
                clear(table);
                var any = false;
                state.labs.forEach(function (lab) {
                  if (!lab.stuck.length) { return; }
                  any = true;
                  var group = el('tbody', 'stuck-lab');
                  group.setAttribute('data-lab', lab.id);
                  lab.stuck.forEach(function (stuck, i) {
                    var row = el('tr');
                    row.setAttribute('data-count', String(stuck.learners));
                    if (i === 0) {
                      var title = el('th', 'lab-title');
                      title.setAttribute('scope', 'rowgroup');
                      title.setAttribute('rowspan', String(lab.stuck.length));
                      title.appendChild(el('span', 'lab-id', lab.id));
                      title.appendChild(document.createTextNode(lab.title));
                      row.appendChild(title);
                    }
                    var count = el('td', 'count');
                    count.appendChild(el('span', null, stuck.learners));
                    row.appendChild(count);
                    row.appendChild(el('td', 'check-name', stuck.check));
                    row.appendChild(el('td', 'names', names(stuck.names)));
                    group.appendChild(row);
                  });
                  table.appendChild(group);
                });
                byId('stuck').hidden = !any;
              }

              function listen() {
                var source = new EventSource('/events');
                source.onopen = function () { connected = true; renderStatus(); };
                source.onmessage = function (message) {
                  state = JSON.parse(message.data);
                  connected = true;
                  renderGrid();
                  renderStuck();
                  renderStatus();
                };
                source.onerror = function () {
                  connected = false;
                  renderStatus();
                  if (source.readyState === EventSource.CLOSED) {
                    // the browser gave up (the server answered with an error): try again ourselves
                    setTimeout(listen, 3000);
                  }
                };
              }

              listen();
            })();
            """;
}
