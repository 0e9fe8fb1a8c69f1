// Drive the mock with @odata/client (its documented API only) and print what it saw as JSON.
// Usage: node odata_client.js <server base URL>
// Set-up any WRS client needs, nothing more: Basic auth, the CSRF nonce in a header with its
// session cookie (fetch-cookie keeps the cookie: Node's fetch keeps none), and If-Match
// (this client's entity sets take no per-request headers: a second client carries it).
"use strict";
const { OData } = require("@odata/client");
const makeFetchCookie = require("fetch-cookie").default;

globalThis.fetch = makeFetchCookie(fetch);
const root = `${process.argv[2].replace(/\/$/, "")}/Windchill/servlet/odata`;
const credential = { username: "wcadmin", password: "wcadmin" };

(async () => {
  const seen = {};
  const ptc = OData.New4({ serviceEndpoint: `${root}/PTC/`, credential });
  const { NonceValue } = await ptc.functionImport("GetCSRFToken");
  const options = { serviceEndpoint: `${root}/DocMgmt/`, credential, commonHeaders: { CSRF_NONCE: NonceValue } };
  const client = OData.New4(options);
  const documents = client.getEntitySet("Documents");
  const withHeaders = (headers) =>
    OData.New4({ ...options, commonHeaders: { ...options.commonHeaders, ...headers } }).getEntitySet("Documents");

  const all = await documents.query();
  seen.listed = all.map((d) => d.ID);
  const first = all[0];
  seen.filtered = (await documents.query(client.newFilter().property("Number").eq(first.Number))).map((d) => d.ID);
  seen.ordered = (await documents.query(client.newParam().orderby("Number", "desc").top(2))).map((d) => d.Number);
  seen.count = await documents.count();
  const got = await documents.retrieve(first.ID);
  seen.got = { ID: got.ID, etag: got["@odata.etag"] || null };

  const created = await documents.create({ Name: "Created by @odata/client", Number: "ODC-1" });
  seen.created = { ID: created.ID, Number: created.Number };
  const ifMatch = (entity) => (entity["@odata.etag"] ? { "If-Match": entity["@odata.etag"] } : {});
  await withHeaders(ifMatch(created)).update(created.ID, { Description: "updated by @odata/client" });
  seen.updated = (await documents.retrieve(created.ID)).Description;
  try {
    await withHeaders({ "If-Match": created["@odata.etag"] || '"v0.0"' }).update(created.ID, { Description: "stale" });
    seen.stale = "accepted";
  } catch (error) {
    seen.stale = error.message;
  }

  // Actions honour If-Match as PATCH does (the odata profile requires it).
  const original = await documents.retrieve(first.ID);
  const working = await withHeaders(ifMatch(original)).action("PTC.DocMgmt.CheckOut", first.ID, {
    CheckOutNote: "from @odata/client",
  });
  seen.checkedOut = { ID: working.ID, state: working.CheckoutState };
  const workingNow = await documents.retrieve(working.ID);
  const checkedIn = await withHeaders(ifMatch(workingNow)).action("PTC.DocMgmt.CheckIn", working.ID, {
    CheckInNote: "done",
  });
  seen.checkedIn = { ID: checkedIn.ID, Version: checkedIn.Version, state: checkedIn.CheckoutState };

  const latest = await documents.retrieve(created.ID);
  await withHeaders(ifMatch(latest)).delete(created.ID);
  try {
    await documents.retrieve(created.ID);
    seen.deleted = false;
  } catch (error) {
    seen.deleted = true;
  }
  process.stdout.write(JSON.stringify(seen));
})().catch((error) => {
  process.stderr.write(`${error.constructor.name}: ${error.message}\n${error.stack}\n`);
  process.exit(1);
});
