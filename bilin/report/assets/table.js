// The runs table: click a header to sort (numbers as numbers), filter by text, command, status.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("runs");
  if (!table) return;
  const body = table.tBodies[0], rows = Array.from(body.rows);
  const text = document.getElementById("filter"), command = document.getElementById("filter-command");
  const status = document.getElementById("filter-status"), shown = document.getElementById("shown");
  function filter() {
    const needle = text.value.trim().toLowerCase();
    let n = 0;
    for (const row of rows) {
      const show = (!needle || row.textContent.toLowerCase().includes(needle)) &&
        (!command.value || row.dataset.command === command.value) &&
        (!status.value || row.dataset.status === status.value);
      row.hidden = !show;
      n += show;
    }
    shown.textContent = `${n} of ${rows.length} runs`;
  }
  function key(row, i, numeric) {
    const cell = row.cells[i];
    if (!numeric) return cell.textContent;
    const v = parseFloat(cell.dataset.value ?? cell.textContent);
    return Number.isNaN(v) ? -Infinity : v;
  }
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
    th.addEventListener("click", () => {
      const numeric = th.dataset.type === "number", asc = !th.classList.contains("asc");
      table.tHead.querySelectorAll("th").forEach((h) => h.classList.remove("asc", "desc"));
      th.classList.add(asc ? "asc" : "desc");
      rows.sort((a, b) => {
        const x = key(a, i, numeric), y = key(b, i, numeric);
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach((r) => body.appendChild(r));
    });
  });
  [text, command, status].forEach((el) => el.addEventListener("input", filter));
  filter();
});
