// Package fleximanage is a typed client of the flexiManage North Bound REST
// API, limited to what a topology reconciler needs: organizations, devices
// (with interfaces, path labels, static routes and DHCP), tunnels, path
// labels, the Apply API and jobs.
//
// Every call takes a context, sends the access key as a bearer token and the
// organization as the org query parameter, goes through a shared request
// Budget (flexiManage allows 300 requests per 5 minutes per client address),
// and is retried with exponential backoff and jitter only when retrying is
// safe: transport errors, 429 (after Retry-After) and 502/503/504. A 500 is
// never retried: flexiManage answers most validation failures with 500, and a
// write that failed that way must be looked at, not repeated.
//
// Failures come back as *APIError whose Kind tells callers what to do
// (retry later, re-read and try again, give up); callers never compare
// message strings. The access key is held as an AccessKey, which prints as
// "[redacted]" everywhere, and it never appears in errors or logs.
//
// Devices are round-tripped faithfully: flexiManage's PUT /devices/{id}
// replaces the whole device from the body, so Device, Interface,
// StaticRoute and DHCP keep every JSON field they do not model and write it
// back unchanged.
package fleximanage
