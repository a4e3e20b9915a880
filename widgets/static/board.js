// The pipeline board in the browser: one element for the filters, the columns, the
// cards and the closed deals (widgets/board_view.py is its Python side, and runs this
// file as the render script of a ReactiveHTML element, under the app's CSP).
//
// renderBoard({model, el}) draws into `el`; `model` gives the element's state (its
// properties, parsed), `model.on(names, callback)` to follow them and
// `model.send_msg(msg)` to send an action to the server.
//
// Every action is a message to the server ({action, seq, ...}); until the server
// answers (it sets `ack` to that seq) the whole board is inert, so no stale control
// can be clicked. A column is redrawn only when its `rev` changes, and a card only when
// what it shows or its column changes: a move touches one card and two column headers.
// Names are user data: they go in as text (textContent), never as HTML.
//
// Every word shown comes from the server in the session's language (`model.words`,
// sent once; the counts' words come with each column, in the language's plural forms).
// A value put into a sentence (a stage, an amount) is isolated, a <bdi> or U+2068 ...
// U+2069 in an attribute, and texts that mix a number or "+" with words carry
// dir="auto": "8 deals" and "+ New deal" read right in a right-to-left page too.

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (key === "class") node.className = value
    else if (key === "text") node.textContent = value
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, value === true ? "" : value)
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child)
  }
  return node
}

// A button inside a span carrying the action's class: `.crm-card-won button`.
function action(cls, label, onclick, extra = {}) {
  return h("span", { class: cls }, h("button", { type: "button", onclick, ...extra }, label))
}

function renderBoard({ model, el }) {
  // Numbered on from the last answer: the board is drawn again on each visit to the
  // page, and an action numbered as an answered one would never be answered again.
  let seq = model.ack || 0
  let waiting = 0
  let timer = null
  let submitted = null // the form ("create:3", "lose:45", "filters") of the last action
  let dragged = null
  const columnViews = new Map() // stage_id -> {node, rev, parts}
  const cardViews = new Map() // deal id -> {node, key}

  // In a right-to-left page the stages run from right to left: "forward" points left.
  const rtl = document.documentElement.dir === "rtl"
  const backArrow = rtl ? "▶" : "◀"
  const forwardArrow = rtl ? "◀" : "▶"
  const words = model.words || {}
  const word = key => (key in words ? words[key] : key)
  // word(key) with its {placeholders} filled: text, each value in a <bdi> of its own
  function filled(key, values) {
    return word(key).split(/\{(\w+)\}/).map((part, index) => (index % 2
      ? h("bdi", { text: String(values[part] ?? "") })
      : part)).filter(part => part !== "")
  }
  // the same as one string (an attribute): each value isolated by U+2068 ... U+2069
  function filledText(key, values) {
    return word(key).replace(/\{(\w+)\}/g, (_all, name) => `\u2068${values[name] ?? ""}\u2069`)
  }

  const message = h("div", { class: "crm-board-message", role: "status", "aria-live": "polite" })
  const owner = h("select", { class: "crm-board-owner", "aria-label": word("owner") })
  const tag = h("input", {
    class: "crm-board-tag", type: "search", placeholder: word("any_tag"), "aria-label": word("tag"),
  })
  const month = h("input", {
    class: "crm-board-month", type: "month", placeholder: "YYYY-MM",
    "aria-label": word("close_month"),
  })
  const showClosed = h("input", { class: "crm-board-show-closed", type: "checkbox" })
  const monthError = h("span", { class: "crm-field-error", "data-field": "close_month" })
  const ownerLabel = h("label", { class: "crm-board-owner-filter" }, `${word("owner")} `, owner)
  const toolbar = h(
    "div",
    { class: "crm-board-filters" },
    ownerLabel,
    h("label", {}, `${word("tag")} `, tag),
    h("label", {}, `${word("close_month")} `, month, monthError),
    h("label", {}, showClosed, ` ${word("closed_deals")}`),
    action("crm-board-refresh", "↻", () => send({ action: "refresh" }, "filters"), {
      title: word("reload"), "aria-label": word("reload"),
    }),
  )
  const columnsBox = h("div", { class: "crm-board-columns" })
  const closedBox = h("section", { class: "crm-board-closed", hidden: true })
  const root = h("div", { class: "crm-board-root" }, toolbar, message, columnsBox, closedBox)
  el.append(root)

  function filtersChanged() {
    send({
      action: "filter",
      owner: owner.value,
      tag: tag.value,
      close_month: month.value,
      show_closed: showClosed.checked,
    }, "filters")
  }
  owner.addEventListener("change", filtersChanged)
  tag.addEventListener("change", filtersChanged)
  month.addEventListener("change", filtersChanged)
  showClosed.addEventListener("change", filtersChanged)

  // -- talking to the server -------------------------------------------------------
  function setBusy(on) {
    root.classList.toggle("is-busy", on)
    root.setAttribute("aria-busy", on ? "true" : "false")
    for (const part of [toolbar, columnsBox, closedBox]) part.inert = on
  }

  function send(msg, form = null) {
    if (waiting) return
    seq += 1
    waiting = seq
    submitted = form
    const focused = el.getRootNode().activeElement
    refocus = focused ? focusPath(focused) : null
    setBusy(true)
    // the server always answers; this only frees a board whose connection dropped
    timer = setTimeout(() => { waiting = 0; setBusy(false) }, 30000)
    model.send_msg({ ...msg, seq })
  }

  let refocus = null
  function focusPath(node) {
    const card = node.closest && node.closest(".crm-card")
    const span = node.parentElement
    if (card && span && span.className) return { card: card.dataset.id, cls: span.className }
    return { node }
  }
  function restoreFocus() {
    if (!refocus) return
    let target = refocus.node
    if (refocus.card) {
      const view = cardViews.get(Number(refocus.card))
      target = view && view.node.querySelector(`.${refocus.cls.split(" ")[0]} button`)
    }
    refocus = null
    if (target && target.isConnected && !target.disabled) target.focus()
  }

  model.on("ack", () => {
    if (model.ack < waiting) return
    clearTimeout(timer)
    waiting = 0
    setBusy(false)
    showErrors()
    restoreFocus()
  })

  // -- what the server says --------------------------------------------------------
  function showMessage() {
    const { message: text = "", kind = "info" } = model.status
    message.textContent = text
    message.className = `crm-board-message crm-board-message-${kind}`
    message.hidden = !text
  }

  function showFilters() {
    const f = model.filters
    owner.replaceChildren(h("option", { value: "", text: word("everyone") }))
    for (const user of model.users) owner.append(h("option", { value: user.login, text: user.name }))
    owner.value = f.owner || ""
    ownerLabel.hidden = !model.pick_owner
    tag.value = f.tag || ""
    month.value = f.close_month || ""
    showClosed.checked = Boolean(f.show_closed)
  }

  function showErrors() {
    const { form = "", fields = {} } = model.errors
    for (const node of root.querySelectorAll(".crm-field-error")) {
      const owned = node.closest("[data-form]")
      const nodeForm = owned ? owned.dataset.form : "filters"
      const reason = nodeForm === form ? fields[node.dataset.field] : undefined
      node.textContent = reason || ""
      const input = node.parentElement.querySelector("input, select")
      if (input) input.setAttribute("aria-invalid", reason ? "true" : "false")
    }
    // a form that went through closes; one with refused values stays open
    if (submitted && submitted !== "filters" && Object.keys(fields).length === 0) {
      const box = root.querySelector(`[data-form="${submitted}"]`)
      if (box) closeForm(box)
    }
    submitted = null
  }

  function closeForm(box) {
    box.hidden = true
    if (box.tagName === "FORM") box.reset()
  }

  // -- columns and cards -----------------------------------------------------------
  function renderColumns() {
    const columns = model.columns
    const order = columns.map(c => c.stage_id).join(",")
    if (columnsBox.dataset.order !== order) {
      columnViews.clear()
      cardViews.clear()
      columnsBox.replaceChildren()
      columnsBox.dataset.order = order
    }
    columns.forEach((column, index) => {
      let view = columnViews.get(column.stage_id)
      if (!view) {
        view = makeColumn(column)
        columnViews.set(column.stage_id, view)
        columnsBox.append(view.node)
      }
      if (view.rev !== column.rev) {
        fillColumn(view, column, columns[index - 1], columns[index + 1])
        view.rev = column.rev
      }
    })
  }

  function makeColumn(column) {
    const sid = column.stage_id
    const title = h("h3", { class: "crm-board-column-title", dir: "auto" })
    const count = h("span", { class: "crm-board-count", dir: "auto" })
    const total = h("div", { class: "crm-board-total" })
    const cards = h("ol", { class: "crm-board-cards" })
    const more = h("p", { class: "crm-board-more", dir: "auto" })
    const form = createForm(sid)
    const add = action("crm-board-add", word("new_deal"), () => {
      form.hidden = !form.hidden
      if (!form.hidden) form.querySelector("input").focus()
    }, { dir: "auto" })
    const node = h(
      "section",
      { class: `crm-board-column crm-board-column-${sid}`, "data-stage": sid },
      h("header", { class: "crm-board-column-header" }, h("div", { class: "crm-board-column-head" }, title, count), total),
      add,
      form,
      cards,
      more,
    )
    node.addEventListener("dragover", event => {
      if (!dragged || dragged.stage === sid) return
      event.preventDefault()
      event.dataTransfer.dropEffect = "move"
      node.classList.add("is-drop-target")
    })
    node.addEventListener("dragleave", event => {
      if (!node.contains(event.relatedTarget)) node.classList.remove("is-drop-target")
    })
    node.addEventListener("drop", event => {
      node.classList.remove("is-drop-target")
      if (!dragged || dragged.stage === sid) return
      event.preventDefault()
      const { id, version } = dragged
      dragged = null
      send({ action: "move", id, stage: sid, version })
    })
    return { node, rev: null, parts: { title, count, total, cards, more } }
  }

  function field(label, input, name) {
    return h("label", {}, h("span", { class: "crm-field-label", text: label }), input,
      h("span", { class: "crm-field-error", "data-field": name }))
  }

  function createForm(sid) {
    const name = h("input", { name: "name", required: true, autocomplete: "off" })
    const revenue = h("input", { name: "expected_revenue", inputmode: "decimal", placeholder: "0.00" })
    const close = h("input", { name: "expected_close", type: "date" })
    const form = h(
      "form",
      { class: "crm-board-create", "data-form": `create:${sid}`, hidden: true, novalidate: true },
      field(word("name"), name, "name"),
      field(word("amount"), revenue, "expected_revenue"),
      field(word("expected_close"), close, "expected_close"),
      h("span", { class: "crm-field-error", "data-field": "stage" }),
      h("div", { class: "crm-form-buttons" },
        h("span", { class: "crm-board-create-save" }, h("button", { type: "submit" }, word("create"))),
        h("button", { type: "button", onclick: () => closeForm(form) }, word("cancel"))),
    )
    form.addEventListener("submit", event => {
      event.preventDefault()
      send({
        action: "create", stage: sid, name: name.value,
        expected_revenue: revenue.value, expected_close: close.value,
      }, `create:${sid}`)
    })
    form.addEventListener("keydown", event => { if (event.key === "Escape") closeForm(form) })
    return form
  }

  function fillColumn(view, column, before, after) {
    const { title, count, total, cards, more } = view.parts
    title.textContent = column.stage
    count.textContent = column.count_text
    total.replaceChildren(...totalNodes(column.totals, column.others_text),
      ...(column.note ? [h("div", { class: "crm-board-total-note", text: column.note })] : []))
    const nodes = column.cards.map(card => {
      // what the card shows and where: a card changed in any way is drawn again
      const key = `${column.stage_id}:${before ? 1 : 0}${after ? 1 : 0}:${JSON.stringify(card)}`
      let cardView = cardViews.get(card.id)
      if (!cardView || cardView.key !== key) {
        cardView = { node: makeCard(card, column, before, after), key }
        cardViews.set(card.id, cardView)
      }
      return cardView.node
    })
    for (const child of cards.children) {
      if (!nodes.includes(child) && cardViews.get(Number(child.dataset.id))?.node === child) {
        cardViews.delete(Number(child.dataset.id))
      }
    }
    cards.replaceChildren(...nodes)
    more.textContent = column.more ? column.more_text : ""
    more.hidden = !column.more
  }

  function totalNodes(totals, othersText) {
    if (!totals.length) {
      return [h("span", { class: "crm-board-total-main", text: word("nothing_yet") })]
    }
    const [main, ...others] = totals
    const nodes = [
      h("div", { class: "crm-board-total-main" },
        h("span", { class: "crm-board-total-label", text: `${word("weighted")} ` }),
        h("bdi", {}, h("b", { text: main.weighted }))),
      h("div", { class: "crm-board-total-of" }, ...filled("of_amount", { amount: main.value })),
    ]
    if (others.length) {
      nodes.push(h("details", { class: "crm-board-total-more" },
        h("summary", { text: othersText, dir: "auto" }),
        h("ul", {}, ...others.map(o => h("li", {},
          h("bdi", {}, h("b", { text: o.weighted })), " ",
          h("span", {}, ...filled("of_amount", { amount: o.value })))))))
    }
    return nodes
  }

  function makeCard(card, column, before, after) {
    const info = { id: card.id, version: card.version, stage: column.stage_id }
    const name = h("a", {
      class: "crm-card-name", href: `#/deals/${card.id}`, text: card.name, dir: "auto",
    })
    name.addEventListener("click", event => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return
      event.preventDefault()
      model.send_msg({ action: "open", id: card.id })
    })
    const wonBox = h("div", { class: "crm-card-won-box", hidden: true },
      action("crm-card-won-confirm", word("confirm_won"),
        () => send({ action: "win", id: card.id, version: card.version })),
      h("button", { type: "button", onclick: () => { wonBox.hidden = true } }, word("cancel")))
    const reason = h("select", { class: "crm-card-lost-reason", "aria-label": word("lost_reason") },
      h("option", { value: "", text: word("choose_reason") }),
      ...model.reasons.map(r => h("option", { value: r, text: r })))
    const note = h("input", {
      class: "crm-card-lost-note", placeholder: word("note_optional"), "aria-label": word("note"),
    })
    const lostBox = h("div", { class: "crm-card-lost-box", "data-form": `lose:${card.id}`, hidden: true },
      h("label", {}, reason, h("span", { class: "crm-field-error", "data-field": "reason" })),
      h("label", {}, note, h("span", { class: "crm-field-error", "data-field": "note" })),
      action("crm-card-lost-confirm", word("confirm_lost"), () => send({
        action: "lose", id: card.id, version: card.version, reason: reason.value, note: note.value,
      }, `lose:${card.id}`)),
      h("button", { type: "button", onclick: () => closeForm(lostBox) }, word("cancel")))
    const node = h(
      "li",
      { class: `crm-card crm-card-${card.id}`, draggable: "true", "data-id": card.id },
      name,
      h("div", { class: "crm-card-company", text: card.company, dir: "auto" }),
      h("div", { class: "crm-card-value" },
        h("span", { text: card.amount, dir: "auto" }), " · ",
        h("span", { class: "crm-card-close", text: card.close, dir: "auto" })),
      h("div", { class: "crm-card-owner", text: card.owner, dir: "auto" }),
      h("div", { class: "crm-card-actions" },
        action("crm-card-back", backArrow, () => send({ action: "back", id: card.id }), {
          disabled: !before,
          "aria-label": before ? filledText("move_back_to", { stage: before.stage }) : word("move_back"),
        }),
        action("crm-card-forward", forwardArrow, () => send({ action: "forward", id: card.id }), {
          disabled: !after,
          "aria-label": after
            ? filledText("move_forward_to", { stage: after.stage }) : word("move_forward"),
        }),
        action("crm-card-won", word("won"),
          () => { wonBox.hidden = !wonBox.hidden; lostBox.hidden = true }),
        action("crm-card-lost", word("lost"),
          () => { lostBox.hidden = !lostBox.hidden; wonBox.hidden = true }),
      ),
      wonBox,
      lostBox,
    )
    node.addEventListener("dragstart", event => {
      dragged = info
      event.dataTransfer.effectAllowed = "move"
      event.dataTransfer.setData("text/plain", String(card.id))
      node.classList.add("is-dragging")
    })
    node.addEventListener("dragend", () => {
      node.classList.remove("is-dragging")
      for (const col of columnsBox.querySelectorAll(".is-drop-target")) col.classList.remove("is-drop-target")
    })
    return node
  }

  // -- the closed deals --------------------------------------------------------------
  function renderClosed() {
    const closed = model.closed
    closedBox.hidden = !model.filters.show_closed
    if (closedBox.hidden) { closedBox.replaceChildren(); return }
    const rows = closed.map(deal => h("li", { class: `crm-closed-deal crm-closed-${deal.id}` },
      h("span", { class: "crm-closed-text" },
        h("bdi", {}, h("b", { text: deal.name })), " · ", h("bdi", { text: deal.status }), " · ",
        h("bdi", { text: deal.amount }),
        ...(deal.owner ? [" · ", h("bdi", { text: deal.owner })] : [])),
      action("crm-closed-reopen", word("reopen"),
        () => send({ action: "reopen", id: deal.id, version: deal.version }))))
    closedBox.replaceChildren(
      h("h3", {}, `${word("closed_deals")} `, h("small", { text: word("recent_first") })),
      rows.length ? h("ul", {}, ...rows) : h("p", {}, h("i", { text: word("no_closed") })),
    )
  }

  model.on("columns", renderColumns)
  model.on("closed", renderClosed)
  model.on(["filters", "users", "pick_owner"], () => { showFilters(); renderClosed() })
  model.on("status", showMessage)
  model.on("errors", () => { if (!waiting) showErrors() })
  model.on("reasons", () => {
    // the lost forms carry the reasons: draw the cards again
    cardViews.clear()
    for (const view of columnViews.values()) view.rev = null
    renderColumns()
  })

  showFilters()
  showMessage()
  renderColumns()
  renderClosed()
  showErrors()
}
