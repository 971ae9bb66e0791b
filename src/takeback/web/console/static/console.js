// takeback staff pages: small behaviour only; every page works without it except keyboard review.
// A form with data-confirm asks first (deactivate, reset, bulk actions): nothing irreversible on one click.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
