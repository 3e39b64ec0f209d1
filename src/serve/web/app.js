// outfitrec web page: plain DOM over the HTTP API in src/serve/server.ts (no build step).
const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 24;

const state = {
  info: null, // GET /health
  category: 0, // category shown in the item picker
  offset: 0,
  total: 0,
  draft: [], // one item (or null) per slot
  chosen: [], // outfits of the new user: arrays of item objects (or null) per slot
};

// A server started with --api-key: the key is given once as #key=… in the page's address (or
// asked for on the first 401) and kept for this tab only.
const keyInHash = new URLSearchParams(location.hash.slice(1)).get('key');
if (keyInHash) {
  sessionStorage.setItem('outfitrec-api-key', keyInHash);
  history.replaceState(null, '', location.pathname + location.search);
}
const apiKey = () => sessionStorage.getItem('outfitrec-api-key');
const keyHeaders = () => (apiKey() ? { 'x-api-key': apiKey() } : {});

async function api(path, options = {}) {
  const init = { ...options, headers: keyHeaders() };
  if (init.body !== undefined) {
    init.method = init.method ?? 'POST';
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(init.body);
  }
  let res = await fetch(path, init);
  if (res.status === 401) {
    const key = prompt('This server needs an API key:');
    if (key) {
      sessionStorage.setItem('outfitrec-api-key', key);
      res = await fetch(path, { ...init, headers: { ...init.headers, ...keyHeaders() } });
    }
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message ?? `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  const el = $('error');
  el.textContent = err instanceof Error ? err.message : String(err);
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function itemImage(item, size) {
  const img = document.createElement('img');
  img.className = 'item';
  const url = `/items/${item.id}/image`;
  // <img> cannot send the key header: with a key the picture is fetched and shown as a blob
  if (apiKey()) {
    fetch(url, { headers: keyHeaders() })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`${r.status}`))))
      .then((b) => { img.src = URL.createObjectURL(b); })
      .catch(() => { img.alt = `${img.alt} (no picture)`; });
  } else {
    img.src = url;
  }
  img.alt = item.title ?? `${item.category} ${item.id}`;
  img.title = `${item.title ?? item.category} · #${item.id} · ${item.name}`;
  img.loading = 'lazy';
  if (size) { img.width = size; img.height = size; }
  return img;
}

// ---- users and recommendations -------------------------------------------------------------

async function loadUsers(selectId) {
  // the newest 100 onboarded users (GET /users is paged, newest first)
  const { runUsers, onboarded, onboardedTotal } = await api('/users?limit=100');
  const select = $('user-select');
  select.replaceChildren();
  const groupNew = document.createElement('optgroup');
  groupNew.label = onboardedTotal > onboarded.length ? `New users (newest ${onboarded.length} of ${onboardedTotal})` : 'New users';
  for (const u of onboarded) {
    const o = new Option(`${u.label ? u.label + ' ' : 'new user '}#${u.id} (${u.strategy.toUpperCase()}, ${u.outfits} outfits)`, String(u.id));
    groupNew.append(o);
  }
  if (onboarded.length > 0) select.append(groupNew);
  const groupRun = document.createElement('optgroup');
  groupRun.label = `Users of the run (${runUsers})`;
  for (let id = 0; id < runUsers; id++) groupRun.append(new Option(`user ${id}`, String(id)));
  select.append(groupRun);
  if (selectId !== undefined) select.value = String(selectId);
}

async function showRecommendations() {
  const id = $('user-select').value;
  const k = $('k-input').value;
  $('recommend-note').textContent = 'composing…';
  try {
    const res = await api(`/users/${encodeURIComponent(id)}/outfits?k=${encodeURIComponent(k)}&explain=1`);
    renderOutfits(res);
    $('recommend-note').textContent =
      `Top ${res.outfits.length} outfits for user ${res.user} — composed in ${res.tookMs.toFixed(1)} ms. ` +
      'Beside each: how it ranks among random outfits of the catalog for this user; under each item, how much it adds.';
  } catch (err) {
    $('recommend-note').textContent = '';
    showError(err);
  }
}

/**
 * The calibrated score in words (docs/method.md §3.1): the percentile, and in the top 1 % the
 * rarer "1 in N", which still tells served outfits apart (they sit in the top 0.2 %).
 */
function calibratedText(outfit) {
  const n = state.info?.referenceOutfits;
  if (outfit.oneIn === null) return n ? `beats all ${n.toLocaleString('en')} random outfits` : 'beats every random outfit drawn';
  if (outfit.percentile >= 99) return `top 1 in ${Math.round(outfit.oneIn).toLocaleString('en')} random outfits`;
  return `beats ${outfit.percentile.toFixed(1)}% of random outfits`;
}

function renderOutfits(res) {
  const grid = $('outfits');
  grid.replaceChildren();
  res.outfits.forEach((outfit, rank) => {
    const card = document.createElement('div');
    card.className = 'outfit';
    card.dataset.testid = 'outfit';
    const items = explainedItems(outfit);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = `#${rank + 1} · ${calibratedText(outfit)}`;
    score.title = `raw score ${outfit.score.toFixed(3)}` + (outfit.style ? ` · closest style: anchor ${outfit.style.anchor} (cos ${outfit.style.cosine.toFixed(2)})` : '');
    const use = document.createElement('button');
    use.type = 'button';
    use.className = 'secondary';
    use.textContent = 'use for new user';
    use.addEventListener('click', () => addChosen(slotsFromItems(outfit.items)));
    meta.append(score, use);
    card.append(items, meta);
    grid.append(card);
  });
}

// ---- explanations (issue 12): each item with its contribution, the matched style ------------

function explainedItems(outfit) {
  const items = document.createElement('div');
  items.className = 'items';
  for (const item of outfit.items) {
    const fig = itemFigure(item);
    if (typeof item.contribution === 'number') {
      const cap = document.createElement('figcaption');
      cap.className = 'contribution';
      cap.textContent = `${item.contribution >= 0 ? '+' : '−'}${Math.abs(item.contribution).toFixed(2)}`;
      cap.title = `score change if this ${item.category} were an average ${item.category}`;
      fig.append(cap);
    }
    items.append(fig);
  }
  if (outfit.style) {
    const style = document.createElement('span');
    style.className = 'style muted';
    style.textContent = `style #${outfit.style.anchor}`;
    style.title = `the user's anchor closest to this outfit (cos ${outfit.style.cosine.toFixed(2)})`;
    items.append(style);
  }
  return items;
}

// ---- new user: item picker, draft outfit, chosen outfits ---------------------------------

function renderTabs() {
  const tabs = $('category-tabs');
  tabs.replaceChildren();
  state.info.categories.forEach((name, c) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.role = 'tab';
    b.textContent = name;
    b.setAttribute('aria-selected', String(c === state.category));
    b.addEventListener('click', () => { state.category = c; state.offset = 0; renderTabs(); loadItems(); });
    tabs.append(b);
  });
}

async function loadItems() {
  const name = state.info.categories[state.category];
  try {
    const res = await api(`/items?category=${encodeURIComponent(name)}&limit=${PAGE_SIZE}&offset=${state.offset}`);
    state.total = res.total;
    const grid = $('item-picker');
    grid.replaceChildren();
    for (const item of res.items) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.itemId = String(item.id);
      b.setAttribute('aria-pressed', String(state.draft.some((d) => d && d.id === item.id)));
      b.append(itemImage(item));
      b.addEventListener('click', () => toggleDraftItem(item));
      grid.append(b);
    }
    const last = Math.min(state.offset + PAGE_SIZE, state.total);
    $('items-page').textContent = `${name}s ${state.offset + 1}–${last} of ${state.total}`;
    $('prev-items').disabled = state.offset === 0;
    $('next-items').disabled = last >= state.total;
  } catch (err) {
    showError(err);
  }
}

function slotsFromItems(items) {
  // the server returns items in slot order with absent optional slots left out; put them back
  const slots = state.info.slotCategories.map(() => null);
  for (const item of items) {
    const s = slots.findIndex((v, j) => v === null && state.info.slotCategories[j] === item.categoryId);
    if (s >= 0) slots[s] = item;
  }
  return slots;
}

function toggleDraftItem(item) {
  const cats = state.info.slotCategories;
  const at = state.draft.findIndex((d) => d && d.id === item.id);
  if (at >= 0) {
    state.draft[at] = null;
  } else {
    const free = cats.findIndex((c, j) => c === item.categoryId && !state.draft[j]);
    const target = free >= 0 ? free : cats.lastIndexOf(item.categoryId);
    state.draft[target] = item;
  }
  renderDraft();
  for (const b of $('item-picker').children) {
    b.setAttribute('aria-pressed', String(state.draft.some((d) => d && String(d.id) === b.dataset.itemId)));
  }
}

function draftComplete() {
  // the set's layout (from /health): every required slot filled and at least minItems items
  const filled = state.draft.filter((d) => d).length;
  return filled >= (state.info.minItems ?? 1) && state.info.slotCategories.every((_, j) => state.draft[j] || state.info.optionalSlots.includes(j));
}

function renderDraft() {
  const line = document.createElement('div');
  line.className = 'draft-slots';
  state.info.slotCategories.forEach((c, j) => {
    const item = state.draft[j];
    if (item) {
      line.append(itemImage(item));
    } else {
      const empty = document.createElement('div');
      empty.className = 'slot-empty';
      empty.textContent = state.info.categories[c] + (state.info.optionalSlots.includes(j) ? ' (optional)' : '');
      line.append(empty);
    }
  });
  $('draft').replaceChildren(line);
  $('add-outfit').disabled = !draftComplete();
}

function addChosen(slots) {
  state.chosen.push(slots);
  renderChosen();
}

function renderChosen() {
  const list = $('chosen-outfits');
  list.replaceChildren();
  state.chosen.forEach((slots, i) => {
    const line = document.createElement('div');
    line.className = 'outfit-line';
    for (const item of slots) if (item) line.append(itemImage(item, 56));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.textContent = 'remove';
    remove.addEventListener('click', () => { state.chosen.splice(i, 1); renderChosen(); });
    line.append(remove);
    list.append(line);
  });
  $('chosen-count').textContent = `(${state.chosen.length})`;
  $('create-user').disabled = state.chosen.length === 0;
}

async function createUser() {
  const button = $('create-user');
  button.disabled = true;
  $('new-user-note').textContent = 'fitting the new user…';
  try {
    const outfits = state.chosen.map((slots) => slots.map((item) => (item ? item.id : null)));
    const res = await api('/users', { body: { outfits, strategy: $('strategy-select').value } });
    $('new-user-note').textContent =
      `Created user #${res.id} from ${outfits.length} outfit${outfits.length === 1 ? '' : 's'} (${res.strategy.toUpperCase()}, ${res.tookMs.toFixed(0)} ms).`;
    state.chosen = [];
    renderChosen();
    await Promise.all([loadUsers(res.id), refreshStatus()]);
    await Promise.all([showRecommendations(), showHistory()]);
  } catch (err) {
    $('new-user-note').textContent = '';
    showError(err);
  } finally {
    button.disabled = state.chosen.length === 0;
  }
}

// ---- the selected user's own outfits, item names, deleting onboarded users -------------------

/** An item's picture with the name a person reads under it ("red shirt"). */
function itemFigure(item, size) {
  const figure = document.createElement('figure');
  figure.className = 'item-figure';
  const caption = document.createElement('figcaption');
  caption.textContent = item.title ?? `${item.category} ${item.id}`;
  figure.append(itemImage(item, size), caption);
  return figure;
}

/** GET /users/:id: a run user's training outfits or an onboarded user's onboarding outfits. */
async function showHistory() {
  const id = $('user-select').value;
  const list = $('history');
  const note = $('history-note');
  $('delete-user').hidden = true;
  try {
    const res = await api(`/users/${encodeURIComponent(id)}?limit=12`);
    list.replaceChildren();
    for (const outfit of res.outfits) {
      const line = document.createElement('div');
      line.className = 'outfit-line';
      for (const item of outfit.items) line.append(itemFigure(item, 56));
      list.append(line);
    }
    const shown = res.outfits.length < res.total ? `${res.outfits.length} of ${res.total}` : `${res.total}`;
    note.textContent = res.kind === 'run'
      ? `User ${res.id}'s own outfits: ${shown} from the training data.`
      : `${res.label ? res.label + ' ' : ''}#${res.id} was created from ${shown} outfit${res.total === 1 ? '' : 's'} (${res.strategy.toUpperCase()}, ${new Date(res.createdAt).toLocaleString()}).`;
    const del = $('delete-user');
    del.hidden = res.kind !== 'onboarded';
    del.textContent = `Delete user #${res.id}`;
    del.dataset.userId = String(res.id);
  } catch (err) {
    list.replaceChildren();
    note.textContent = '';
    showError(err);
  }
}

async function deleteUser() {
  const id = $('delete-user').dataset.userId;
  if (!id || !confirm(`Delete user #${id}? Their outfits and profile are removed for good.`)) return;
  try {
    await api(`/users/${encodeURIComponent(id)}`, { method: 'DELETE' });
    $('new-user-note').textContent = `Deleted user #${id}.`;
    await Promise.all([loadUsers(0), refreshStatus()]);
    await Promise.all([showRecommendations(), showHistory()]);
  } catch (err) {
    showError(err);
  }
}

function startHistory() {
  $('user-form').addEventListener('submit', () => showHistory());
  $('delete-user').addEventListener('click', deleteUser);
}

// ---- start --------------------------------------------------------------------------------

async function refreshStatus() {
  state.info = await api('/health');
  $('status').textContent =
    `set ${state.info.set} · ${state.info.runUsers} users + ${state.info.onboardedUsers} new · ${state.info.items} items`;
}

async function start() {
  try {
    await refreshStatus();
    state.draft = state.info.slotCategories.map(() => null);
    renderTabs();
    renderDraft();
    renderChosen();
    await Promise.all([loadUsers(), loadItems()]);
  } catch (err) {
    $('status').textContent = 'server unreachable';
    showError(err);
    return;
  }
  $('user-form').addEventListener('submit', (e) => { e.preventDefault(); showRecommendations(); });
  $('prev-items').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadItems(); });
  $('next-items').addEventListener('click', () => { state.offset += PAGE_SIZE; loadItems(); });
  $('add-outfit').addEventListener('click', () => {
    addChosen([...state.draft]);
    state.draft = state.info.slotCategories.map(() => null);
    renderDraft();
    loadItems();
  });
  $('clear-draft').addEventListener('click', () => {
    state.draft = state.info.slotCategories.map(() => null);
    renderDraft();
    loadItems();
  });
  $('create-user').addEventListener('click', createUser);
  startHistory();
  await Promise.all([showRecommendations(), showHistory()]);
}

start();
