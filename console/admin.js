// Assistants (list, create, edit, deactivate) and trunks (list, create; the
// password is write-only: never shown, only "set").
import { api, listAll } from './api.js';
import { clearErrors, field, fmtTime, h, input, jsonValue, select, showError } from './ui.js';

const PROVIDERS = ['local', 'openai'];

function assistantForm(a, onDone) {
  const ic = (a && a.assistant_interaction_config) || { speaks_first: true, silence_timeout_s: 10, max_reprompts: 2, fillers_enabled: true };
  const c = {
    name: input({ value: a ? a.assistant_name : '', required: true }),
    prompt: h('textarea', { rows: 3 }, a ? a.assistant_prompt : ''),
    mode: select(['pipeline', 'realtime']),
    start: input({ value: a ? a.assistant_start_instruction || '' : '' }),
    speaks: h('input', { type: 'checkbox', checked: ic.speaks_first !== false }),
    silence: input({ type: 'number', value: ic.silence_timeout_s ?? 10 }),
    reprompts: input({ type: 'number', value: ic.max_reprompts ?? 2 }),
    fillers: h('input', { type: 'checkbox', checked: !!ic.fillers_enabled }),
    stt: select(PROVIDERS),
    llm: select(PROVIDERS),
    script: h('textarea', { rows: 3, spellcheck: 'false', placeholder: '[{"match":"hours","reply":"We are open nine to five."}]' },
      a && a.assistant_llm_config && a.assistant_llm_config.script ? JSON.stringify(a.assistant_llm_config.script) : ''),
    tts: select(PROVIDERS),
    url: input({ value: a ? a.assistant_end_call_url || '' : '', placeholder: 'https://… (optional)' }),
  };
  if (a) {
    c.mode.value = a.assistant_mode || 'pipeline';
    c.stt.value = (a.assistant_stt_config || {}).provider || 'local';
    c.llm.value = (a.assistant_llm_config || {}).provider || 'local';
    c.tts.value = (a.assistant_tts_config || {}).provider || 'local';
  }
  const form = h('form', { class: 'card form', id: a ? 'assistant-edit' : 'assistant-create', novalidate: true },
    h('h2', {}, a ? `Edit ${a.assistant_name}` : 'New assistant'),
    h('div', { class: 'grid2' },
      field('Name', 'assistant_name', c.name),
      field('Mode', 'assistant_mode', c.mode),
      field('Prompt', 'assistant_prompt', c.prompt),
      field('Start instruction', 'assistant_start_instruction', c.start, '{{placeholders}} are filled from the call\'s metadata'),
      field('Speaks first', 'assistant_interaction_config.speaks_first', c.speaks),
      field('Fillers', 'assistant_interaction_config.fillers_enabled', c.fillers),
      field('Silence timeout (s)', 'assistant_interaction_config.silence_timeout_s', c.silence),
      field('Max reprompts', 'assistant_interaction_config.max_reprompts', c.reprompts),
      field('STT provider', 'assistant_stt_config.provider', c.stt),
      field('TTS provider', 'assistant_tts_config.provider', c.tts),
      field('LLM provider', 'assistant_llm_config.provider', c.llm),
      field('LLM script (local provider, JSON)', 'assistant_llm_config.script', c.script),
      field('End-of-call webhook URL', 'assistant_end_call_url', c.url)),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, a ? 'Save' : 'Create assistant'),
      a ? h('button', { type: 'button', class: 'quiet', onclick: () => onDone(null) }, 'Cancel') : null),
    h('p', { class: 'form-error', role: 'alert' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      // an edit keeps what the form does not show (models, voices, base URLs)
      const keep = (k) => ({ ...((a && a[k]) || {}) });
      const llm = { ...keep('assistant_llm_config'), provider: c.llm.value };
      const script = jsonValue(c.script, 'assistant_llm_config.script', { array: true });
      if (script) llm.script = script; else delete llm.script;
      const num = (el) => (el.value.trim() === '' ? undefined : Number(el.value));
      const body = {
        assistant_name: c.name.value,
        assistant_prompt: c.prompt.value,
        assistant_mode: c.mode.value,
        assistant_start_instruction: c.start.value,
        assistant_interaction_config: {
          ...keep('assistant_interaction_config'),
          speaks_first: c.speaks.checked, fillers_enabled: c.fillers.checked,
          silence_timeout_s: num(c.silence), max_reprompts: num(c.reprompts),
        },
        assistant_stt_config: { ...keep('assistant_stt_config'), provider: c.stt.value },
        assistant_llm_config: llm,
        assistant_tts_config: { ...keep('assistant_tts_config'), provider: c.tts.value },
        assistant_end_call_url: c.url.value.trim() || null,
      };
      const d = a ? await api('PATCH', `/assistants/${a.assistant_id}`, body) : await api('POST', '/assistants', body);
      onDone(d);
    } catch (e) { showError(form, e); }
  });
  return form;
}

export async function viewAssistants(main) {
  const list = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading…'));
  const editSlot = h('div');
  main.append(h('h1', {}, 'Assistants'), list, editSlot);
  async function refresh() {
    const items = await listAll('/assistants', 'assistants');
    const tbody = h('tbody');
    for (const a of items) {
      tbody.append(h('tr', { 'data-id': a.assistant_id },
        h('td', {}, a.assistant_name),
        h('td', {}, a.assistant_mode),
        h('td', {}, [a.assistant_stt_config, a.assistant_llm_config, a.assistant_tts_config].map((x) => (x || {}).provider || '-').join(' / ')),
        h('td', { class: 'mono' }, a.assistant_id),
        h('td', {}, fmtTime(a.created_at)),
        h('td', { class: 'row-actions' },
          h('a', { href: `#/talk/${a.assistant_id}` }, 'Talk'),
          h('button', { type: 'button', class: 'quiet', onclick: () => edit(a) }, 'Edit'),
          h('button', { type: 'button', class: 'danger', onclick: () => deactivate(a) }, 'Deactivate'))));
    }
    list.replaceChildren(items.length
      ? h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Mode', 'STT / LLM / TTS', 'Id', 'Created', ''].map((t) => h('th', {}, t)))), tbody)
      : h('p', { class: 'muted' }, 'No assistants yet: create one below.'));
  }
  function edit(a) {
    editSlot.replaceChildren(assistantForm(a, async (d) => { editSlot.replaceChildren(create()); if (d) await refresh(); }));
    editSlot.scrollIntoView({ behavior: 'smooth' });
  }
  async function deactivate(a) {
    if (!confirm(`Deactivate ${a.assistant_name}? Calls placed with it keep their records.`)) return;
    try { await api('DELETE', `/assistants/${a.assistant_id}`); await refresh(); } catch (e) { alert(e.message); }
  }
  const create = () => assistantForm(null, async () => { editSlot.replaceChildren(create()); await refresh(); });
  editSlot.append(create());
  try { await refresh(); } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); }
}

function trunkForm(onDone) {
  const c = {
    name: input({ value: '' }),
    type: select([['exotel', 'Exotel (our SIP bridge)'], ['twilio', 'Twilio (LiveKit SIP)']]),
    host: input({ placeholder: 'pstn.in1.exotel.com' }),
    port: input({ type: 'number', placeholder: '5070' }),
    transport: select(['tcp', 'tls', 'udp']),
    domain: input({ placeholder: '(sip_host when empty)' }),
    user: input({ autocomplete: 'off' }),
    password: input({ type: 'password', autocomplete: 'new-password', placeholder: 'write-only' }),
    lkid: input({ placeholder: 'ST_…' }),
    address: input({ placeholder: 'example.pstn.twilio.com' }),
    numbers: input({ placeholder: '+918044319240, +918044319241' }),
  };
  const exo = h('div', { class: 'grid2', 'data-kind': 'exotel' },
    field('SIP host', 'trunk_config.sip_host', c.host),
    field('SIP port', 'trunk_config.sip_port', c.port),
    field('Transport', 'trunk_config.transport', c.transport),
    field('SIP domain', 'trunk_config.sip_domain', c.domain));
  const twi = h('div', { class: 'grid2', 'data-kind': 'twilio', hidden: true },
    field('LiveKit SIP trunk id', 'trunk_config.livekit_sip_trunk_id', c.lkid, 'or address, username and password'),
    field('Address', 'trunk_config.address', c.address));
  const form = h('form', { class: 'card form', id: 'trunk-create', novalidate: true },
    h('h2', {}, 'New trunk'),
    h('div', { class: 'grid2' }, field('Name', 'trunk_name', c.name), field('Type', 'trunk_type', c.type)),
    exo, twi,
    h('div', { class: 'grid2' },
      field('Username', 'trunk_config.username', c.user),
      field('Password', 'trunk_config.password', c.password, 'stored, never shown again'),
      field('Caller numbers (E.164, comma-separated)', 'trunk_config.numbers', c.numbers)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create trunk')),
    h('p', { class: 'form-error', role: 'alert' }));
  c.type.addEventListener('change', () => { exo.hidden = c.type.value !== 'exotel'; twi.hidden = c.type.value !== 'twilio'; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const cfg = {};
    const put = (k, el, f = (v) => v) => { const v = el.value.trim(); if (v !== '') cfg[k] = f(v); };
    if (c.type.value === 'exotel') {
      put('sip_host', c.host); put('sip_port', c.port, Number); cfg.transport = c.transport.value; put('sip_domain', c.domain);
    } else {
      put('livekit_sip_trunk_id', c.lkid); put('address', c.address);
    }
    put('username', c.user);
    if (c.password.value !== '') cfg.password = c.password.value;
    cfg.numbers = c.numbers.value.split(/[\s,]+/).filter(Boolean);
    try {
      const d = await api('POST', '/trunks', { trunk_name: c.name.value, trunk_type: c.type.value, trunk_config: cfg });
      c.password.value = '';
      onDone(d);
    } catch (e) { showError(form, e); }
  });
  return form;
}

export async function viewTrunks(main) {
  const list = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading…'));
  const slot = h('div');
  main.append(h('h1', {}, 'Trunks'), list, slot);
  async function refresh() {
    const items = await listAll('/trunks', 'trunks');
    const tbody = h('tbody');
    for (const t of items) {
      const cfg = t.trunk_config || {};
      tbody.append(h('tr', { 'data-id': t.trunk_id },
        h('td', {}, t.trunk_name), h('td', {}, t.trunk_type),
        h('td', {}, t.trunk_type === 'exotel' ? `${cfg.sip_host || ''}:${cfg.sip_port || 5060}/${cfg.transport || 'tcp'}` : (cfg.livekit_sip_trunk_id || cfg.address || '')),
        h('td', {}, (cfg.numbers || []).join(', ')),
        h('td', {}, t.trunk_password_set ? 'set' : '—'),
        h('td', { class: 'mono' }, t.trunk_id)));
    }
    list.replaceChildren(items.length
      ? h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Type', 'Endpoint', 'Numbers', 'Password', 'Id'].map((x) => h('th', {}, x)))), tbody)
      : h('p', { class: 'muted' }, 'No trunks yet.'));
  }
  const mk = () => trunkForm(async () => { slot.replaceChildren(mk()); await refresh(); });
  slot.append(mk());
  try { await refresh(); } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); }
}
