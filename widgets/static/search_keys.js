// The header search's keys: Down from the box to the first result, Up and Down through
// the results, Escape back to an empty box. The box and the results live in shadow
// roots of their own, so they are found by walking those roots.
function deepAll(root, selector, found = []) {
  found.push(...root.querySelectorAll(selector))
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) { deepAll(el.shadowRoot, selector, found) }
  }
  return found
}
function inside(event, cls) {
  return event.composedPath().some((el) => el.classList && el.classList.contains(cls))
}
state.keys = (event) => {
  if (!["ArrowDown", "ArrowUp", "Escape"].includes(event.key)) { return }
  const target = event.composedPath()[0]
  const hits = deepAll(document, "a.crm-search-hit")
  const onBox = target.tagName === "INPUT" && inside(event, "crm-global-search")
  const at = hits.indexOf(target)
  if (!onBox && at < 0) { return }
  event.preventDefault()
  if (event.key === "Escape") {
    const box = deepAll(document, ".crm-global-search input")[0]
    if (box) {
      box.value = ""
      box.dispatchEvent(new Event("input", {bubbles: true}))
      box.focus()
    }
    return
  }
  if (!hits.length) { return }
  if (onBox) {
    hits[event.key === "ArrowDown" ? 0 : hits.length - 1].focus()
  } else {
    const next = at + (event.key === "ArrowDown" ? 1 : -1)
    if (next < 0 || next >= hits.length) {
      deepAll(document, ".crm-global-search input")[0]?.focus()
    } else {
      hits[next].focus()
    }
  }
}
document.addEventListener("keydown", state.keys, true)
// A link to a page of the app ("#/contacts/1001") in an HTML pane: Panel's pane takes
// every "#..." link for an anchor on the page and looks the href up as a CSS selector,
// which a route is not ("... is not a valid selector" in the console, on a click or on
// Enter). The click goes no further than the document; the browser still follows the
// link (nothing here prevents that), and the router opens the page.
state.links = (event) => {
  const path = event.composedPath()
  const link = path.find((el) => el.tagName === "A")
  const href = (link && link.getAttribute("href")) || ""
  if (!href.startsWith("#/")) { return }
  const host = link.getRootNode().host
  if (host && host.classList.contains("bk-panel-models-markup-HTML")) {
    event.stopPropagation()
  }
}
document.addEventListener("click", state.links, true)
