// Event delegation on the chat element: its content is replaced on every answer, the element is not.
// After an answer the chat scrolls (inside its own box) to the top of the newest turn, where the answer is.
// Run by Gradio as gr.HTML(js_on_load=...): `element`, `watch` and `trigger` are given.
const scroller = () => {
  for (let node = element; node && node !== document.body; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (/(auto|scroll)/.test(style.overflowY) && node.scrollHeight > node.clientHeight) return node;
  }
  return null;
};
let shown = 0;
watch('value', () => {
  const turns = element.querySelectorAll('.turn');
  const grew = turns.length > shown;
  shown = turns.length;
  const last = turns[turns.length - 1];
  const box = scroller();
  if (!grew || !last || !box) return;   // re-rendering (explain toggle) keeps the reader's place
  box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
});
element.addEventListener('click', (event) => {
  const opener = event.target.closest('[data-open-chunk]');
  if (!opener || !element.contains(opener)) return;
  event.preventDefault();
  element.querySelectorAll('.cite.opened').forEach((card) => card.classList.remove('opened'));
  const card = opener.closest('.cite');
  if (card) card.classList.add('opened');
  trigger('click', {chunk_id: opener.dataset.openChunk, turn: Number(opener.dataset.turn)});
});
