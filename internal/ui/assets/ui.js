// Copy buttons: each button[data-copy] copies the text of the element
// whose id it names. Without JavaScript the buttons stay hidden and the
// text is selectable as usual.
for (const b of document.querySelectorAll("button[data-copy]")) {
  b.hidden = false;
  b.addEventListener("click", async () => {
    const el = document.getElementById(b.dataset.copy);
    const label = b.textContent;
    try {
      await navigator.clipboard.writeText(el.textContent);
      b.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(el); // not a secure context: copy by hand
      b.textContent = "Selected: press Ctrl+C";
    }
    b.dataset.copied = el.textContent;
    setTimeout(() => { b.textContent = label; }, 2000);
  });
}
