// Draw the charts htmx brings in after the page (django-unfold draws those present at load), and
// download a chart as a PNG: its canvas drawn over white, so the picture reads outside the page.
document.addEventListener("htmx:load", () => {
  if (!window.Chart) {
    return;
  }
  for (const canvas of document.querySelectorAll("canvas.chart")) {
    if (!window.Chart.getChart(canvas) && canvas.dataset.value) {
      new window.Chart(canvas, {
        type: canvas.dataset.type || "bar",
        data: JSON.parse(canvas.dataset.value),
        options: JSON.parse(canvas.dataset.options || "{}"),
      });
    }
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-chart-png]");
  if (!button || !window.Chart) {
    return;
  }
  const canvas = document.getElementById(button.dataset.chartPng);
  if (!canvas || !window.Chart.getChart(canvas)) {
    return;
  }
  const picture = document.createElement("canvas");
  picture.width = canvas.width;
  picture.height = canvas.height;
  const context = picture.getContext("2d");
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, picture.width, picture.height);
  context.drawImage(canvas, 0, 0);
  const link = document.createElement("a");
  link.download = button.dataset.filename || "chart.png";
  link.href = picture.toDataURL("image/png");
  document.body.appendChild(link);
  link.click();
  link.remove();
});
