// loader's /docs page: Swagger UI on the document this server serves. A file rather than an
// inline script, so that the page works under a Content-Security-Policy of script-src 'self'.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // no call to the online validator: the page stays offline
  });
});
