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
