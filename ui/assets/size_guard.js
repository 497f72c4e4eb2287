// The page refuses a file over a box's limit before sending it (a capturing listener runs before Gradio's own),
// with the server's Chinese message in the box's status panel; the box, the limit and the message are filled in
// by ui/blocks.size_guard_js. Runs as the status panel's js_on_load (`props.value` re-renders the panel).
const limit = __LIMIT__;
const refusal = __REFUSAL__;
const inBox = (node) => node instanceof Element && node.closest('#__BOX__') !== null;
const tooLarge = (files) => Array.from(files || []).find((file) => file.size > limit);
const refuse = (event, file) => {
  event.preventDefault();
  event.stopImmediatePropagation();
  props.value = refusal.replace('__SIZE__', (file.size / __MB__).toFixed(1));
};
document.addEventListener('change', (event) => {
  const file = inBox(event.target) ? tooLarge(event.target.files) : undefined;
  if (!file) return;
  refuse(event, file);
  event.target.value = '';
}, true);
document.addEventListener('drop', (event) => {
  const file = inBox(event.target) ? tooLarge(event.dataTransfer && event.dataTransfer.files) : undefined;
  if (file) refuse(event, file);
}, true);
