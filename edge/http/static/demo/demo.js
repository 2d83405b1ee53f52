// Edge demo store: a storefront on the public API (/v1/decide, /v1/events), no build step, no network.
"use strict";
(() => {
  const TEXT = {
    en: {
      brand: "Edge demo store", visitor: "Visitor", why: "Why?", cart: "Cart", whyTitle: "Why this page?",
      whyNote: "The same request decided again with explain (read-only, POST /demo/explain).",
      forYou: "Picked for you", alsoLike: "You may also like", addToCart: "Add to cart", added: "Added to your cart",
      emptyCart: "Your cart is empty.", checkout: "Buy now", bought: "Thank you! Your order is placed.",
      until: "until", code: "code", off: "off", noOffer: "No offer today", unknown: "(not in this build)",
      back: "Back to the shop", anonymous: "anonymous", product: "Product", total: "Total",
      reasons: {
        similar_to_viewed: "Because you viewed similar items", in_cart_complement: "Goes with your cart",
        bought_together: "Often bought together", for_you: "For you", preference: "From your favourite category",
        trending_local: "Trending near you", best_seller: "Best seller", on_sale: "On sale",
      },
    },
    nl: {
      brand: "Edge demowinkel", visitor: "Bezoeker", why: "Waarom?", cart: "Winkelwagen", whyTitle: "Waarom deze pagina?",
      whyNote: "Hetzelfde verzoek opnieuw beslist met uitleg (alleen lezen, POST /demo/explain).",
      forYou: "Voor jou gekozen", alsoLike: "Misschien ook iets voor jou", addToCart: "In winkelwagen",
      added: "Toegevoegd aan je winkelwagen", emptyCart: "Je winkelwagen is leeg.", checkout: "Nu kopen",
      bought: "Bedankt! Je bestelling is geplaatst.", until: "tot", code: "code", off: "korting",
      noOffer: "Vandaag geen aanbieding", unknown: "(niet in deze build)", back: "Terug naar de winkel",
      anonymous: "anoniem", product: "Product", total: "Totaal",
      reasons: {
        similar_to_viewed: "Omdat je vergelijkbare artikelen bekeek", in_cart_complement: "Past bij je winkelwagen",
        bought_together: "Vaak samen gekocht", for_you: "Voor jou", preference: "Uit je favoriete categorie",
        trending_local: "Populair bij jou in de buurt", best_seller: "Bestseller", on_sale: "In de aanbieding",
      },
    },
  };
  const LOCALES = { en: "en-GB", nl: "nl-NL" };
  const $ = (selector) => document.querySelector(selector);
  const saved = (key, fallback) => {
    try { const raw = localStorage.getItem("edge-demo:" + key); return raw === null ? fallback : JSON.parse(raw); }
    catch (_) { return fallback; }
  };
  const save = (key, value) => localStorage.setItem("edge-demo:" + key, JSON.stringify(value));
  const newSession = (key) => `demo-${key}-${Math.random().toString(36).slice(2, 10)}`;

  const state = {
    personas: [], now: null, persona: saved("persona", "new_visitor"), lang: saved("lang", "en"),
    session: saved("session", null), cart: saved("cart", []), products: saved("products", {}), renders: 0,
    lastRequest: null,
  };
  const t = (key) => TEXT[state.lang][key];
  const persona = () => state.personas.find((p) => p.key === state.persona) || state.personas[0];

  function hue(text) {
    let h = 0;
    for (const ch of String(text)) h = (h * 31 + ch.charCodeAt(0)) % 360;
    return h;
  }

  function money(value) {
    return new Intl.NumberFormat(LOCALES[state.lang], { style: "currency", currency: "EUR" }).format(value);
  }

  async function call(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${answer.error ? answer.error.message : ""}`);
    return answer;
  }

  function utmFromUrl() {
    const params = new URLSearchParams(location.search);
    const utm = {};
    for (const part of ["source", "medium", "campaign"]) {
      const value = params.get("utm_" + part);
      if (value) utm[part] = value;
    }
    return Object.keys(utm).length ? utm : null;
  }

  function decideBody(extra) {
    const who = persona();
    const utm = who.utm || utmFromUrl();
    const body = {
      session_id: state.session, locale: LOCALES[state.lang],
      location: { country: "NL", timezone: "Europe/Amsterdam" }, context: { device: "desktop" },
      session: utm ? { utm } : {}, ...extra,
    };
    if (who.user_id) body.user_id = who.user_id;
    if (who.consent === false) body.consent = { personalization: false };
    if (state.now) body.now = state.now;
    return body;
  }

  function event(type, extra) {
    const who = persona();
    const body = { type, session_id: state.session, ...extra };
    if (who.user_id && who.consent !== false) body.user_id = who.user_id;
    return body;
  }

  async function send(events) {
    return call("/v1/events", { events });
  }

  function remember(products) {
    for (const p of products) state.products[p.id] = p;
    save("products", state.products);
  }

  function productCard(p) {
    const card = $("#product-card").content.firstElementChild.cloneNode(true);
    card.href = `#/product/${encodeURIComponent(p.id)}`;
    card.dataset.id = p.id;
    card.dataset.reason = p.reason;
    card.style.setProperty("--hue", hue(p.category));
    card.querySelector(".name").textContent = p.name;
    card.querySelector(".category").textContent = p.category;
    priceInto(card.querySelector(".price"), p);
    card.querySelector(".reason").textContent = TEXT[state.lang].reasons[p.reason] || p.reason;
    return card;
  }

  function priceInto(node, p) {
    node.textContent = "";
    if (p.sale_price != null && p.sale_price < p.price) {
      const was = document.createElement("s");
      was.textContent = money(p.price);
      node.append(was, money(p.sale_price));
    } else {
      node.append(money(p.price));
    }
  }

  function grid(title, products) {
    const section = document.createElement("section");
    const heading = document.createElement("h2");
    heading.textContent = title;
    const list = document.createElement("div");
    list.className = "grid";
    list.id = "products";
    list.append(...products.map(productCard));
    section.append(heading, list);
    return section;
  }

  function hero(decision) {
    const box = document.createElement("section");
    box.className = "hero";
    box.id = "hero";
    box.dataset.variant = decision.variant.id;
    box.dataset.segment = decision.segment;
    box.style.setProperty("--hue", hue(decision.variant.id));
    const variant = document.createElement("span");
    variant.className = "variant";
    variant.textContent = decision.variant.id;
    const segment = document.createElement("span");
    segment.className = "segment";
    segment.id = "segment";
    segment.textContent = decision.segment + (decision.tier ? ` · ${decision.tier}` : "");
    const greeting = document.createElement("h1");
    greeting.id = "greeting";
    greeting.textContent = decision.greeting.text;
    const cta = document.createElement("a");
    cta.className = "cta";
    cta.id = "cta";
    cta.dataset.cta = decision.cta.id;
    cta.href = "#/";
    cta.textContent = decision.cta.text;
    const offer = document.createElement("div");
    offer.className = "offer";
    offer.id = "offer";
    const o = decision.cta.offer;
    if (o) {
      offer.dataset.discount = o.discount_pct;
      const expires = new Date(o.expires_at).toLocaleDateString(LOCALES[state.lang], { dateStyle: "medium" });
      const code = document.createElement("code");
      code.textContent = o.code;
      offer.append(`${o.discount_pct} % ${t("off")} · ${t("code")} `, code, ` · ${t("until")} ${expires}`);
    } else {
      offer.textContent = t("noOffer");
    }
    box.append(variant, segment, greeting, document.createElement("br"), cta, offer);
    return box;
  }

  function footer(decision) {
    $("#decision-id").textContent = decision.decision_id;
    $("#took").textContent = `${decision.took_ms} ms${decision.degraded ? " (degraded)" : ""}`;
  }

  async function home(view) {
    const body = decideBody({ page: "home", limit: 12 });
    const decision = await call("/v1/decide", body);
    state.lastRequest = body;
    remember(decision.products);
    view.append(hero(decision), grid(t("forYou"), decision.products));
    footer(decision);
  }

  async function product(view, id) {
    const known = state.products[id];
    await send([event("view", { product_id: id })]);
    const body = decideBody({ page: "product", limit: 6, exclude: [id] });
    const decision = await call("/v1/decide", body);
    state.lastRequest = body;
    remember(decision.products);
    const detail = document.createElement("section");
    detail.className = "detail";
    detail.id = "product-detail";
    detail.dataset.id = id;
    const swatch = document.createElement("div");
    swatch.className = "swatch";
    swatch.style.setProperty("--hue", hue(known ? known.category : id));
    const info = document.createElement("div");
    const name = document.createElement("h1");
    name.textContent = known ? known.name : `${t("product")} ${id}`;
    const meta = document.createElement("p");
    meta.className = "category";
    meta.textContent = `${id}${known ? " · " + known.category : ""}`;
    const price = document.createElement("p");
    price.className = "price";
    if (known) priceInto(price, known);
    const add = document.createElement("button");
    add.id = "add-to-cart";
    add.type = "button";
    add.textContent = t("addToCart");
    add.addEventListener("click", async () => {
      await send([event("add_to_cart", { product_id: id })]);
      state.cart.push(id);
      save("cart", state.cart);
      await render(t("added"));
    });
    info.append(name, meta, price, add);
    detail.append(swatch, info);
    view.append(detail, grid(t("alsoLike"), decision.products));
    footer(decision);
  }

  async function cart(view) {
    const list = document.createElement("ul");
    list.className = "cart-lines";
    list.id = "cart-lines";
    let total = 0;
    for (const id of state.cart) {
      const p = state.products[id] || { id, name: id, price: 0 };
      const unit = p.sale_price != null ? p.sale_price : p.price;
      total += unit;
      const line = document.createElement("li");
      line.dataset.id = id;
      const name = document.createElement("span");
      name.textContent = p.name;
      line.append(name, money(unit));
      list.append(line);
    }
    if (!state.cart.length) {
      const empty = document.createElement("p");
      empty.id = "cart-empty";
      empty.textContent = t("emptyCart");
      view.append(empty);
      return;
    }
    const sum = document.createElement("p");
    sum.textContent = `${t("total")}: ${money(total)}`;
    const buy = document.createElement("button");
    buy.className = "checkout";
    buy.id = "checkout";
    buy.type = "button";
    buy.textContent = t("checkout");
    buy.addEventListener("click", async () => {
      const events = state.cart.map((id) => {
        const p = state.products[id] || { price: 0 };
        return event("purchase", { product_id: id, quantity: 1, price: p.sale_price != null ? p.sale_price : p.price });
      });
      await send(events);
      state.cart = [];
      save("cart", state.cart);
      history.pushState(null, "", "#/");
      await render(t("bought"));
    });
    view.append(list, sum, buy);
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = typeof text === "object" ? JSON.stringify(text) : String(text);
    row.append(td);
  }

  async function why() {
    const panel = $("#why");
    const target = $("#why-body");
    if (panel.hidden || !state.lastRequest) return;
    target.textContent = "";
    try {
      const decision = await call("/demo/explain", state.lastRequest);
      const table = document.createElement("table");
      table.id = "explain";
      const rows = { segment: decision.segment, tier: decision.tier, personalized: decision.personalized, ...decision.explain };
      for (const [key, value] of Object.entries(rows)) {
        if (key === "scores") continue;
        const row = document.createElement("tr");
        row.dataset.key = key;
        cell(row, key);
        cell(row, value);
        table.append(row);
      }
      const scores = document.createElement("table");
      scores.id = "scores";
      for (const s of decision.explain.scores) {
        const row = document.createElement("tr");
        cell(row, s.id);
        cell(row, s.reason);
        cell(row, s.score.toFixed(3));
        scores.append(row);
      }
      const heading = document.createElement("h3");
      heading.textContent = "scores";
      target.append(table, heading, scores);
    } catch (error) {
      target.textContent = String(error);
      target.className = "error";
    }
  }

  function chrome() {
    document.documentElement.lang = state.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const button of document.querySelectorAll(".lang")) button.classList.toggle("on", button.dataset.lang === state.lang);
    $("#cart-count").textContent = state.cart.length;
    const select = $("#persona");
    select.value = state.persona;
    const who = persona();
    $("#who").textContent = who.user_id
      ? `user ${who.user_id}${who.first_name ? " (" + who.first_name + ")" : ""}${who.consent === false ? " · consent off" : ""}`
      : t("anonymous") + (who.utm ? ` · utm_campaign=${who.utm.campaign}` : "");
  }

  async function render(notice) {
    document.body.dataset.state = "loading";
    chrome();
    const view = $("#view");
    const page = document.createDocumentFragment();
    if (notice) {
      const note = document.createElement("p");
      note.className = "notice";
      note.id = "notice";
      note.textContent = notice;
      page.append(note);
    }
    const holder = document.createElement("div");
    try {
      const route = location.hash.replace(/^#\/?/, "").split("/");
      if (route[0] === "product" && route[1]) await product(holder, decodeURIComponent(route[1]));
      else if (route[0] === "cart") await cart(holder);
      else await home(holder);
      await why();
    } catch (error) {
      holder.className = "error";
      holder.id = "failure";
      holder.textContent = String(error);
    }
    page.append(holder);
    view.replaceChildren(page);
    state.renders += 1;
    document.body.dataset.renders = String(state.renders);
    document.body.dataset.state = "ready";
  }

  function switchTo(key) {
    state.persona = key;
    state.session = newSession(key);
    state.cart = [];
    save("persona", key);
    save("session", state.session);
    save("cart", state.cart);
    const who = persona();
    if (who.utm && !utmFromUrl()) {  // a campaign arrival is a landing from a UTM link
      const query = new URLSearchParams(Object.entries(who.utm).map(([k, v]) => ["utm_" + k, v]));
      location.assign(`/demo?${query}#/`);
      return;
    }
    if (!who.utm && utmFromUrl()) {
      location.assign("/demo#/");
      return;
    }
    history.pushState(null, "", "#/");
    render();
  }

  async function start() {
    const response = await fetch("/demo/personas.json");
    const doc = await response.json();
    state.personas = doc.personas;
    state.now = doc.now;
    const select = $("#persona");
    for (const p of doc.personas) {
      const option = document.createElement("option");
      option.value = p.key;
      option.textContent = p.label + (p.key !== "new_visitor" && p.key !== "campaign" && !p.user_id ? " " + TEXT.en.unknown : "");
      option.disabled = p.key !== "new_visitor" && p.key !== "campaign" && !p.user_id;
      select.append(option);
    }
    if (!persona() || persona().key !== state.persona) state.persona = "new_visitor";
    if (!state.session) { state.session = newSession(state.persona); save("session", state.session); }
    select.addEventListener("change", () => switchTo(select.value));
    for (const button of document.querySelectorAll(".lang")) {
      button.addEventListener("click", () => { state.lang = button.dataset.lang; save("lang", state.lang); render(); });
    }
    $("#why-toggle").addEventListener("click", () => {
      $("#why").hidden = !$("#why").hidden;
      document.body.classList.toggle("why-open", !$("#why").hidden);
      why();
    });
    window.addEventListener("hashchange", () => render());
    await render();
  }

  start();
})();
