// The console: hash routes, the API key (this tab only), and the views.
import { api, ApiError, getKey, setKey, setUnauthorizedHandler } from './api.js';
import { h } from './ui.js';
import { viewAssistants, viewTrunks } from './admin.js';
import { viewCall, viewCalls, viewEvents, viewOutbound } from './calls.js';
import { viewTalk } from './talk.js';

const routes = {
  talk: viewTalk,
  call: viewOutbound,
  events: viewEvents,
  calls: (main, rest) => (rest ? viewCall(main, rest) : viewCalls(main)),
  assistants: viewAssistants,
  trunks: viewTrunks,
};

const main = document.getElementById('view');
const banner = document.getElementById('banner');
const keyInput = document.getElementById('api-key');
const keyState = document.getElementById('key-state');
let cleanup = null;

export function showBanner(msg, kind = 'error') {
  if (!msg) { banner.hidden = true; banner.textContent = ''; return; }
  banner.hidden = false;
  banner.className = `banner ${kind}`;
  banner.textContent = msg;
}

function setKeyState(text, ok) {
  keyState.textContent = text;
  keyState.className = `key-state ${ok ? 'ok' : 'bad'}`;
}

setUnauthorizedHandler((err) => {
  setKeyState('key refused', false);
  showBanner(`API key refused (401): ${err.message}`);
});

async function checkKey() {
  try {
    await api('GET', '/assistants?limit=1');
    setKeyState('key accepted', true);
    showBanner('');
    return true;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showBanner(e.message);
    return false;
  }
}

document.getElementById('key-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  setKey(keyInput.value.trim());
  keyInput.value = '';
  if (await checkKey()) render();
});
document.getElementById('key-forget').addEventListener('click', () => {
  setKey('');
  setKeyState('no key', false);
  render();
});

async function render() {
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  const [name, ...rest] = (location.hash.replace(/^#\/?/, '') || 'talk').split('/');
  const view = routes[name] || routes.talk;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === name));
  main.replaceChildren();
  if (!getKey()) {
    main.append(h('section', { class: 'card narrow' },
      h('h1', {}, 'Welcome'),
      h('p', {}, 'Enter an API key (one of api-gateway\'s API_KEYS; `make run` uses dev-key-callmesh) in the box above. It is kept for this tab only.')));
    keyInput.focus();
    return;
  }
  try {
    cleanup = (await view(main, rest.join('/'))) || null;
  } catch (e) {
    main.append(h('p', { class: 'error' }, e.message));
  }
}

window.addEventListener('hashchange', render);
if (getKey()) checkKey(); else setKeyState('no key', false);
render();
