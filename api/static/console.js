// Canned replies: choosing one puts it in the reply box (still editable before sending). The focus stays on
// the list, so arrow keys can go through the replies; Tab then reaches the box.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.dataset.fill || !select.value) return;
  var box = document.getElementById(select.dataset.fill);
  if (box) box.value = select.value;
});
