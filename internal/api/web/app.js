// docker-backup's web page: the HTTP API for someone without a terminal.
// Everything the server sends goes into the page as text (textContent or
// text nodes), never as markup, so no archive name or message can inject
// any.
'use strict';

const TOKEN_KEY = 'docker-backup-token';
// The job followed survives a reload of the tab: a restore waiting for its
// confirmation would otherwise be left to time out with nobody to answer.
const JOB_KEY = 'docker-backup-job';
const STATUS_EVERY_MS = 10000;
// Reconnections in a row to a job's event stream before giving up on it.
const MAX_STREAM_FAILURES = 20;

const $ = (id) => document.getElementById(id);

const state = {
  projects: [],
  busy: false, // a job is followed, or an upload is on its way
  job: null, // the job followed (the last one stays shown once it ended)
  timer: 0,
  statusPending: false,
  wasRunning: false,
  archivesSeq: 0,
  errorSource: '',
};

// ---------- helpers ----------

// el builds an element; string children become text nodes, not markup.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c != null && c !== false && c !== ''));
  return node;
}

const badge = (cls, text) => el('span', { className: `badge ${cls}`, text });
const capitalize = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

// fmtBytes uses decimal units, as the CLI does.
function fmtBytes(n) {
  if (typeof n !== 'number' || !(n >= 0)) return '?';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtSeconds(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '?';
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

// fmtTime shows a time in the browser's zone; Go's zero time is unknown.
function fmtTime(s, clockOnly = false) {
  const d = new Date(s);
  if (!s || Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return clockOnly ? '' : 'unknown time';
  return clockOnly ? d.toLocaleTimeString() : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// ---------- errors ----------

// source lets a later success clear only the error it made obsolete: a
// status poll that works again must not hide a refused delete.
function showError(message, source = '') {
  $('error').textContent = message;
  $('error-bar').hidden = false;
  state.errorSource = source;
}

function clearError(source) {
  if (source && state.errorSource !== source) return;
  $('error').textContent = '';
  $('error-bar').hidden = true;
  state.errorSource = '';
}

function report(err, source = '') {
  // A 401 has already brought the login back; an abort is our own doing.
  if (err && (err.status === 401 || err.name === 'AbortError')) return;
  showError(err && err.message ? err.message : String(err), source);
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// errorMessage reads the {"error": ...} body. A proxy in front of the
// daemon may answer with an HTML page instead: that is not shown.
async function errorMessage(resp) {
  try {
    const body = JSON.parse(await resp.text());
    if (body && typeof body.error === 'string' && body.error) return body.error;
  } catch { /* no JSON: the status says what there is to say */ }
  const hints = { 413: ': the file is larger than the server accepts', 502: ': the daemon behind the proxy does not answer', 504: ': the server took too long' };
  return `The server answered ${resp.status} ${resp.statusText}${hints[resp.status] || ''}.`;
}

// api calls the API with the token, which only ever goes in the header.
async function api(path, opts = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new ApiError(401, 'not logged in');
  const headers = new Headers(opts.headers || {});
  headers.set('Authorization', `Bearer ${token}`);
  let resp;
  try {
    resp = await fetch(path, { ...opts, headers, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `Cannot reach the server (${err.message}). Check the connection and try again.`);
  }
  if (resp.status === 401) {
    loggedOut('The token was refused: log in again.');
    throw new ApiError(401, 'the token was refused');
  }
  if (!resp.ok) throw new ApiError(resp.status, await errorMessage(resp));
  return resp;
}

async function apiJSON(path, opts) {
  const resp = await api(path, opts);
  return resp.status === 204 ? null : resp.json();
}

const jsonPost = (body) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

// ---------- login ----------

async function login() {
  const token = $('token').value.trim();
  $('login-error').textContent = token ? '' : 'Enter the API token.';
  if (!token) return $('token').focus();
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  return enter();
}

// enter checks the token with a first status, then shows the page. Only a
// 401 sends back to the login: a server down for a moment does not make
// the token wrong.
async function enter() {
  $('login').disabled = true;
  try {
    await refreshStatus();
  } catch (err) {
    if (err.status === 401) return;
    report(err, 'status');
  } finally {
    $('login').disabled = false;
  }
  $('login-view').hidden = true;
  $('main').hidden = false;
  $('logout').hidden = false;
  clearInterval(state.timer);
  state.timer = setInterval(() => refreshStatus().catch((err) => report(err, 'status')), STATUS_EVERY_MS);
  loadArchives();
  resumeJob();
}

// loggedOut keeps the job's id: once logged in again, it is followed on.
function loggedOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  if (state.job) state.job.abort.abort();
  setBusy(false);
  clearError();
  $('main').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

function logout() {
  if (state.job) state.job.abort.abort();
  state.job = null;
  sessionStorage.removeItem(JOB_KEY);
  $('job-section').hidden = true;
  loggedOut('');
}

// ---------- status ----------

async function refreshStatus() {
  if (state.statusPending) return;
  state.statusPending = true;
  try {
    const st = await apiJSON('/api/v1/status');
    renderStatus(st);
    clearError('status');
    // A job of the schedule (or of another client) just ended: it may
    // have added or pruned archives.
    if (state.wasRunning && !st.running) loadArchives();
    state.wasRunning = Boolean(st.running);
  } finally {
    state.statusPending = false;
  }
}

const stateBadges = { running: ['running', 'running'], 'waiting-confirmation': ['running', 'waiting for a confirmation'],
  succeeded: ['ok', 'succeeded'], failed: ['failed', 'failed'], cancelled: ['failed', 'cancelled'] };

function jobSummary(sum, kind, multi) {
  if (!sum) return [el('span', { className: 'muted', text: 'none since the daemon started' })];
  const [cls, word] = stateBadges[sum.state] || ['', sum.state];
  const when = sum.endDate ? `ended ${fmtTime(sum.endDate)}` : `started ${fmtTime(sum.startDate)}`;
  const parts = [badge(cls, word), el('span', { className: 'muted', text: ` ${when}${multi ? `, project ${sum.project}` : ''}` })];
  if (sum.statusMessage) parts.push(el('div', { className: 'summary-message', text: sum.statusMessage }));
  // A job of the schedule or of another client can be followed too.
  const active = sum.state === 'running' || sum.state === 'waiting-confirmation';
  if (active && (!state.job || state.job.ended)) {
    const b = el('button', { type: 'button', className: 'small follow', text: 'Follow' });
    b.addEventListener('click', () => follow(sum.id, kind));
    parts.push(b);
  }
  return parts;
}

function scheduleText(s) {
  if (!s || !s.cron || s.cron === 'none') return 'no schedule';
  const rule = `(cron "${s.cron}"${s.timeZone ? `, ${s.timeZone}` : ''})`;
  return s.nextRun ? `${fmtTime(s.nextRun)} ${rule}` : rule;
}

function renderStatus(st) {
  $('version').textContent = st.version ? `version ${st.version}` : '';
  setProjects(Array.isArray(st.projects) ? st.projects : []);
  const multi = state.projects.length > 1;
  const dl = el('dl', { className: 'facts' });
  const row = (term, ...desc) => dl.append(el('dt', { text: term }), el('dd', {}, ...desc));
  row('Health', st.healthy ? badge('ok', 'healthy') : badge('failed', 'unhealthy'),
    st.health ? el('div', { className: 'summary-message', text: st.health }) : null);
  row('Last backup', ...jobSummary(st.backup, 'backup', multi));
  row('Last restore', ...jobSummary(st.restore, 'restore', multi));
  row('Next backup', scheduleText(st.schedule));
  if (multi) row('Projects', state.projects.join(', '));
  $('status').replaceChildren(dl);
}

// setProjects offers a choice of project only when there is a choice.
function setProjects(projects) {
  const same = projects.length === state.projects.length && projects.every((p, i) => p === state.projects[i]);
  state.projects = projects;
  $('project-field').hidden = projects.length <= 1;
  if (same) return;
  const select = $('project');
  const chosen = select.value;
  select.replaceChildren(...projects.map((p) => el('option', { value: p, text: p })));
  if (projects.includes(chosen)) select.value = chosen;
}

// ---------- archives ----------

async function loadArchives() {
  const seq = ++state.archivesSeq;
  try {
    const list = await apiJSON('/api/v1/backups');
    // An older answer that comes late must not replace a newer one.
    if (seq !== state.archivesSeq) return;
    renderArchives(Array.isArray(list) ? list : []);
    clearError('archives');
  } catch (err) {
    report(err, 'archives');
  }
}

function renderArchives(list) {
  if (!list.length) {
    $('archives').replaceChildren(el('li', { className: 'empty', text: 'No archives yet' }));
    return;
  }
  const time = (a) => Date.parse(a.createdAt) || 0;
  const sorted = [...list].sort((a, b) => time(b) - time(a));
  $('archives').replaceChildren(...sorted.map((a, i) => archiveRow(a, `archive-${i}`)));
}

function archiveRow(a, id) {
  const meta = el('p', { className: 'meta' },
    el('span', { text: fmtTime(a.createdAt) }),
    el('span', { text: fmtBytes(a.size) }),
    a.project && state.projects.length > 1 ? el('span', { text: `project ${a.project}` }) : null,
    a.encrypted ? badge('info', 'encrypted') : null,
    a.safetyBackup ? badge('info', 'safety backup') : null,
    a.foreign ? badge('warning', 'not made by this tool') : null);
  // The buttons are named by their action; the archive's name describes them.
  const button = (cls, text, handler) => {
    const b = el('button', { type: 'button', className: cls, text, 'aria-describedby': id });
    b.addEventListener('click', () => handler(a, b).catch((err) => report(err)));
    return b;
  };
  const restore = button('restore', 'Restore', restoreStored);
  restore.disabled = state.busy;
  const li = el('li', { className: 'archive' },
    el('p', { className: 'name', id, text: a.name }), meta,
    a.why ? el('p', { className: 'muted small-text', text: a.why }) : null,
    el('div', { className: 'actions' }, button('download', 'Download', download), restore, button('delete', 'Delete', remove)));
  li.dataset.name = a.name;
  return li;
}

// download asks for a single-use link first: a browser's download cannot
// carry the Authorization header, and the token must never be in a URL.
async function download(a, b) {
  clearError();
  b.disabled = true;
  try {
    const link = await apiJSON(`/api/v1/backups/${encodeURIComponent(a.name)}/link`, { method: 'POST' });
    const url = new URL(link.url, location.href);
    if (url.origin !== location.origin) throw new Error('The server gave a download link to another site: not followed.');
    const anchor = el('a', { href: url.href, download: a.name, hidden: true });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  } finally {
    b.disabled = false;
  }
}

async function remove(a, b) {
  clearError();
  if (!window.confirm(`Delete the archive ${a.name}? It cannot be brought back.`)) return;
  b.disabled = true;
  await api(`/api/v1/backups/${encodeURIComponent(a.name)}`, { method: 'DELETE' }).finally(() => { b.disabled = false; });
  await loadArchives();
}

// restoreStored restores into the archive's own project when this daemon
// serves it, else into the project chosen above.
function restoreStored(a) {
  clearError();
  const body = { name: a.name };
  if (state.projects.length > 1) body.project = state.projects.includes(a.project) ? a.project : $('project').value;
  return startJob('restore', '/api/v1/restore', jsonPost(body));
}

// ---------- starting jobs ----------

function setBusy(busy) {
  state.busy = busy;
  $('backup-now').disabled = busy;
  $('upload').disabled = busy;
  for (const b of document.querySelectorAll('#archives .restore')) b.disabled = busy;
}

async function startJob(kind, path, opts) {
  setBusy(true);
  try {
    const accepted = await apiJSON(path, opts);
    follow(accepted.id, kind);
    return true;
  } catch (err) {
    setBusy(Boolean(state.job && !state.job.ended));
    report(err);
    return false;
  }
}

function backupNow() {
  clearError();
  const body = state.projects.length > 1 ? { project: $('project').value } : {};
  return startJob('backup', '/api/v1/backups', jsonPost(body));
}

async function upload() {
  clearError();
  const file = $('upload-file').files[0];
  if (!file) {
    showError('Choose an archive file first.');
    $('upload-file').focus();
    return;
  }
  const query = new URLSearchParams({ filename: file.name });
  if (state.projects.length > 1) query.set('project', $('project').value);
  $('upload-state').textContent = `uploading and verifying… ${file.name} (${fmtBytes(file.size)}). Keep this tab open.`;
  // The File itself is the body: the browser streams it from the disk.
  const started = await startJob('restore', `/api/v1/restore?${query}`,
    { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file });
  $('upload-state').textContent = '';
  if (started) $('upload-file').value = '';
}

// ---------- following a job ----------

function follow(id, kind) {
  if (state.job) state.job.abort.abort();
  const job = {
    id, kind: kind || 'job', abort: new AbortController(), lastId: '', lastSeq: 0, steps: new Map(),
    phase: 'running', ended: false, lost: '', reconnecting: '', confirmSent: false, cancelRequested: false,
  };
  state.job = job;
  sessionStorage.setItem(JOB_KEY, JSON.stringify({ id, kind: job.kind }));
  for (const part of ['plan-body', 'job-steps', 'job-log', 'job-result']) $(part).replaceChildren();
  $('plan').hidden = true;
  $('job-result').hidden = true;
  $('job-section').hidden = false;
  renderJobState(job);
  setBusy(true);
  $('job-title').focus({ preventScroll: true });
  $('job-section').scrollIntoView({ block: 'start', behavior: 'smooth' });
  streamEvents(job);
}

function resumeJob() {
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(JOB_KEY)); } catch { /* unreadable: forget it */ }
  const following = state.job && state.job.id === saved?.id && !state.job.abort.signal.aborted;
  if (saved?.id && !following) follow(saved.id, saved.kind);
}

// streamEvents reads the job's server-sent events with fetch (EventSource
// cannot send the Authorization header). After a break it resumes with
// Last-Event-ID, so that no event is lost or shown twice.
async function streamEvents(job) {
  let failures = 0;
  while (!job.ended && state.job === job && !job.abort.signal.aborted) {
    try {
      const headers = job.lastId ? { 'Last-Event-ID': job.lastId } : {};
      const resp = await api(`/api/v1/jobs/${encodeURIComponent(job.id)}/events`, { headers, signal: job.abort.signal });
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          const block = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (handleBlock(job, block)) failures = 0;
        }
      }
      // The server ends the stream right after "finished", and only then.
      if (!job.ended) throw new ApiError(0, 'the event stream ended early');
    } catch (err) {
      if (err.name === 'AbortError' || err.status === 401 || state.job !== job) return;
      if (err.status === 404 || ++failures > MAX_STREAM_FAILURES) {
        // The job is gone: the daemon restarted, or forgot it.
        stopFollowing(job, `Lost track of the job: ${err.message}`);
        report(err);
        return;
      }
      job.reconnecting = err.message;
      renderJobState(job);
      await sleep(Math.min(1000 * 2 ** failures, 10000), job.abort.signal);
    }
  }
}

function parseBlock(block) {
  let [id, type] = ['', ''];
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue; // keep-alive comments
    const [, field, value] = /^([^:]*):? ?(.*)$/.exec(line);
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { id, type, data: data.join('\n') } : null;
}

// handleBlock tells whether the block was an event.
function handleBlock(job, block) {
  const msg = parseBlock(block);
  if (!msg || state.job !== job) return false;
  if (msg.id) job.lastId = msg.id;
  let ev;
  try { ev = JSON.parse(msg.data); } catch { console.warn('an unreadable event', msg.data); return false; }
  if (!ev.type) ev.type = msg.type;
  if (ev.seq && ev.seq <= job.lastSeq) return true;
  if (ev.seq) job.lastSeq = ev.seq;
  job.reconnecting = '';
  onEvent(job, ev);
  return true;
}

function onEvent(job, ev) {
  // The message after a plan is the server starting to wait for the
  // confirmation; what comes after the wait is its end (confirmed, or
  // the job finished).
  if (job.phase === 'waiting' && ev.type !== 'warning') job.phase = 'applying';
  switch (ev.type) {
    case 'plan':
      // A new plan (the project changed while the restore waited) needs
      // a confirmation of its own.
      job.phase = 'planned';
      job.confirmSent = false;
      renderPlan(ev.plan || {});
      break;
    case 'step-started':
      stepRow(job, ev.step, true);
      break;
    case 'progress':
      stepRow(job, ev.step, false).bytes.textContent = fmtBytes(ev.bytes || 0);
      break;
    case 'step-finished':
      finishStep(job, ev);
      break;
    case 'message':
      if (job.phase === 'planned') job.phase = 'waiting';
      logLine(ev.message, ev.time, '');
      break;
    case 'warning':
      logLine(`Warning: ${ev.message || ''}`, ev.time, 'warning');
      break;
    case 'finished':
      finishJob(job, ev);
      return;
    default: // "started", and any type added later
      if (ev.message) logLine(ev.message, ev.time, '');
  }
  renderJobState(job);
}

function stepRow(job, name, fresh) {
  const key = name || '(unnamed step)';
  let s = job.steps.get(key);
  // A step of the same name may run again (in the safety backup, then in
  // the restore): it gets a line of its own.
  if (!s || (fresh && s.finished)) {
    s = {
      bytes: el('span', { className: 'step-bytes', 'aria-live': 'off' }), // too chatty to announce
      info: el('span', { className: 'step-info', text: 'running…' }),
      finished: false,
    };
    s.li = el('li', { className: 'step running' }, el('span', { className: 'step-name', text: key }), s.bytes, s.info);
    job.steps.set(key, s);
    $('job-steps').append(s.li);
  }
  return s;
}

function finishStep(job, ev) {
  const s = stepRow(job, ev.step, false);
  s.finished = true;
  s.li.className = ev.error ? 'step failed' : 'step done';
  if (ev.error) {
    s.info.textContent = `failed: ${ev.error}`;
  } else {
    s.bytes.textContent = fmtBytes(ev.bytes || 0);
    s.info.textContent = `done in ${fmtSeconds(ev.seconds || 0)}`;
  }
}

function logLine(text, time, cls) {
  $('job-log').append(el('li', { className: cls }, el('time', { text: fmtTime(time, true) }), ' ', text || ''));
}

function finishJob(job, ev) {
  const cancelled = job.cancelRequested || /not confirmed|cancel/i.test(ev.error || '');
  job.phase = !ev.error ? 'succeeded' : cancelled ? 'cancelled' : 'failed';
  const kind = capitalize(job.kind);
  const box = $('job-result');
  box.className = ev.error ? 'failed' : 'ok';
  if (ev.error) box.replaceChildren(el('strong', { text: `${kind} ${job.phase}: ` }), ev.error);
  else box.replaceChildren(el('strong', { text: `${kind} succeeded` }), resultDetails(ev.result));
  box.hidden = false;
  stopFollowing(job, '');
  refreshStatus().catch((err) => report(err, 'status'));
  loadArchives();
}

function stopFollowing(job, why) {
  job.ended = true;
  job.lost = why;
  sessionStorage.removeItem(JOB_KEY);
  if (state.job === job) setBusy(false);
  renderJobState(job);
}

// resultDetails knows a backup's result ({archive, size, pruned}) and a
// restore's; anything else is left out.
function resultDetails(r) {
  if (!r || typeof r !== 'object') return null;
  const items = [];
  if (r.archive) items.push(`Archive: ${r.archive}`);
  if (typeof r.size === 'number') items.push(`Size: ${fmtBytes(r.size)}`);
  if (r.pruned > 0) items.push(`Old archives deleted by the retention: ${r.pruned}`);
  if (r.safetyBackup) items.push(`Safety backup of the data replaced: ${r.safetyBackup}`);
  if (Array.isArray(r.volumes) && r.volumes.length) items.push(`Volumes: ${r.volumes.join(', ')}`);
  if (Array.isArray(r.databases) && r.databases.length) items.push(`Databases: ${r.databases.join(', ')}`);
  if (typeof r.durationSeconds === 'number') items.push(`Took ${fmtSeconds(r.durationSeconds)}`);
  for (const n of Array.isArray(r.notes) ? r.notes : []) items.push(`Note: ${n}`);
  return items.length ? el('ul', {}, ...items.map((t) => el('li', { text: t }))) : null;
}

const phaseText = {
  planned: () => 'Plan ready, preparing to wait for your confirmation…',
  waiting: () => 'Plan ready, waiting for your confirmation: nothing has been changed yet. Read the plan, then replace the data or cancel.',
  applying: (k) => `${k} running…`,
};

function renderJobState(job) {
  if (state.job !== job) return;
  const kind = capitalize(job.kind);
  let text = phaseText[job.phase] ? phaseText[job.phase](kind) : `${kind} ${job.phase}${job.ended ? '' : '…'}`;
  if (job.lost) text = job.lost;
  else if (job.cancelRequested && !job.ended) text = 'Cancelling…';
  else if (job.reconnecting && !job.ended) text += ` (connection lost, reconnecting: ${job.reconnecting})`;
  $('job-state').textContent = text;
  $('job-state').dataset.state = job.phase === 'waiting' ? 'waiting-confirmation' : job.phase;
  const open = (job.phase === 'planned' || job.phase === 'waiting') && !job.ended;
  $('plan-actions').hidden = !open;
  $('confirm').disabled = job.phase !== 'waiting' || job.confirmSent || job.cancelRequested;
  $('cancel').disabled = !open || job.confirmSent || job.cancelRequested;
}

// renderPlan says in words what the restore replaces, before anything is.
function renderPlan(p) {
  const from = p.from || {};
  const parts = [el('h3', { text: 'What this restore will do' }),
    el('p', { text: `Restore ${p.archive || 'the archive'} into project ${p.project || '?'}.` }),
    el('p', { className: 'muted', text: `The archive holds project ${from.project || '?'}, made ${fmtTime(from.createdAt)} by docker-backup ${from.toolVersion || '?'}${from.cold ? ', with its services stopped (cold)' : ''}.` })];
  if (from.signature) {
    const sig = from.signature;
    parts.push(el('p', { className: 'muted', text: `Signed by key ${sig.key}${sig.name ? ` (${sig.name})` : ''}${sig.trusted ? ', a trusted key.' : ', not checked against a trust list.'}` }));
  }
  if (p.create) parts.push(el('p', { text: `Project ${p.project} does not exist yet: it is created first.` }));
  const list = (title, items, none) => {
    parts.push(el('h4', { text: title }));
    parts.push(items.length ? el('ul', {}, ...items) : el('p', { className: 'muted', text: none }));
  };
  list('Stopped during the restore, started again after it', (p.stop || []).map((s) => el('li', { text: s })), 'No service is stopped.');
  list('Volumes whose content is replaced', (p.volumes || []).map((v) => el('li', {
    text: `${v.name}${v.target && v.target !== v.name ? ` → ${v.target}` : ''}: ${fmtBytes(v.bytes)}, ${v.entries ?? '?'} files${v.raw ? ', database files copied as they are' : ''}`,
  })), 'No volume.');
  list('Databases that are replaced', (p.databases || []).map((d) => el('li', {},
    `${d.service} (${[d.flavor, d.version].filter(Boolean).join(' ') || '?'})`,
    el('ul', {}, ...(d.dumps || []).map((x) => el('li', {
      text: `${x.globals ? 'roles and users' : `database ${x.database || '?'}`}: ${fmtBytes(x.bytes)}`,
    }))))), 'No database.');
  if (p.safetyBackup) {
    parts.push(el('p', { className: 'message-ok', text: `First, the current data is backed up to ${p.safetyBackup}: if the restore fails, it is put back from there.` }));
  } else if (p.noSafetyBackup) {
    parts.push(el('p', { className: 'message-failed', text: 'No safety backup: the current data cannot be brought back after this.' }));
  } else {
    parts.push(el('p', { className: 'muted', text: 'No safety backup: there is no current data to keep.' }));
  }
  if (Array.isArray(p.notes) && p.notes.length) list('Notes', p.notes.map((n) => el('li', { text: n })), '');
  $('plan-body').replaceChildren(...parts);
  $('plan').hidden = false;
}

// answerPlan confirms or cancels the job followed; flag marks the answer
// as sent so that it is not sent twice.
async function answerPlan(flag, path, method) {
  const job = state.job;
  if (!job || job.ended) return;
  clearError();
  job[flag] = true;
  renderJobState(job);
  await api(`/api/v1/jobs/${encodeURIComponent(job.id)}${path}`, { method }).catch((err) => {
    job[flag] = false;
    renderJobState(job);
    throw err;
  });
}

// ---------- wiring ----------

const guard = (fn) => () => Promise.resolve().then(fn).catch((err) => report(err));

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('click', guard(login));
  $('token').addEventListener('keydown', (e) => e.key === 'Enter' && guard(login)());
  $('logout').addEventListener('click', logout);
  $('error-dismiss').addEventListener('click', () => clearError());
  $('backup-now').addEventListener('click', guard(backupNow));
  $('upload').addEventListener('click', guard(upload));
  $('refresh').addEventListener('click', guard(() => Promise.all([loadArchives(), refreshStatus()])));
  $('confirm').addEventListener('click', guard(() => answerPlan('confirmSent', '/confirm', 'POST')));
  $('cancel').addEventListener('click', guard(() => answerPlan('cancelRequested', '', 'DELETE')));
  if (sessionStorage.getItem(TOKEN_KEY)) guard(enter)();
  else $('token').focus();
});
