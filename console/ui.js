// Small DOM helpers and the form plumbing every view shares: fields named
// after the API's field paths, each with its own error slot, so an API error
// lands next to the field its `field` names.
export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'html') el.innerHTML = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// A labelled field: <label>, the control, and <span class="field-error">.
// `field` is the API's name for it ("trunk_config.sip_host").
export function field(label, field, control, hint) {
  control.dataset.field = field;
  if (!control.id) control.id = `f-${field.replace(/[^a-z0-9]+/gi, '-')}`;
  return h('div', { class: 'field', 'data-field-wrap': field },
    h('label', { for: control.id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
    h('span', { class: 'field-error', 'data-error-for': field, role: 'alert' }));
}

export const input = (attrs = {}) => h('input', { type: 'text', ...attrs });
export function select(options, attrs = {}) {
  const s = h('select', attrs);
  for (const o of options) {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value }, label));
  }
  return s;
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  form.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
  const fe = form.querySelector('.form-error');
  if (fe) fe.textContent = '';
}

// Puts err.message next to the field err.field names: the exact path, else
// without list indexes, else its parents; otherwise at the form's foot.
export function showError(form, err) {
  clearErrors(form);
  let f = err.field || '';
  const tries = [];
  while (f) {
    tries.push(f);
    const noIdx = f.replace(/\[\d+\]/g, '');
    if (noIdx !== f) tries.push(noIdx);
    const dot = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    f = dot > 0 ? f.slice(0, dot) : '';
  }
  for (const t of tries) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(t)}"]`);
    if (slot) {
      slot.textContent = err.message;
      const ctl = form.querySelector(`[data-field="${CSS.escape(t)}"]`);
      if (ctl) { ctl.classList.add('invalid'); ctl.focus({ preventScroll: false }); }
      return;
    }
  }
  let fe = form.querySelector('.form-error');
  if (!fe) { fe = h('p', { class: 'form-error', role: 'alert' }); form.append(fe); }
  fe.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
}

// A JSON textarea's value: undefined when empty; an error naming `fieldName`
// when it does not parse to an object (or array when `array`).
export function jsonValue(ta, fieldName, { array = false } = {}) {
  const t = ta.value.trim();
  if (!t) return undefined;
  let v;
  try { v = JSON.parse(t); } catch (e) {
    throw Object.assign(new Error(`not valid JSON: ${e.message}`), { field: fieldName, code: 'invalid_json' });
  }
  if (array ? !Array.isArray(v) : (typeof v !== 'object' || v === null || Array.isArray(v))) {
    throw Object.assign(new Error(`must be a JSON ${array ? 'array' : 'object'}`), { field: fieldName, code: 'invalid_field' });
  }
  return v;
}

export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toLocaleString(undefined, { hour12: false });
}

export function fmtMs(v) {
  if (v === null || v === undefined) return '';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}

export const TERMINAL = new Set(['completed', 'busy', 'no_answer', 'rejected', 'cancelled', 'unreachable', 'timeout', 'failed']);
export const STATUSES = ['queued', 'dialing', 'ringing', 'in_progress', 'on_hold', 'completed', 'busy', 'no_answer',
  'rejected', 'cancelled', 'unreachable', 'timeout', 'failed'];
