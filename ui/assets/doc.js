// Scroll the document body (not the page) so the cited passage sits near the top of the view.
// Run by Gradio as gr.HTML(js_on_load=...): `element` and `watch` are given.
const reveal = () => {
  const body = element.querySelector('.doc-body');
  const anchor = element.querySelector('#passage-anchor');
  if (!body || !anchor) return;
  body.scrollTop = Math.max(0, anchor.offsetTop - body.offsetTop - 48);
  element.scrollIntoView({block: 'nearest'});
};
watch('value', reveal);
reveal();
