import { existsSync, readFileSync } from "node:fs";
import { embeddedPath } from "../assets.ts";

const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };

/**
 * The dashboard's files, carried by the binary (dist/embed/dashboard, bundled by
 * scripts/bundle.ts from src/roles/director/dashboard): no CDN, so the page works offline.
 */
export function dashboardAsset(pathname: string): Response | null {
  const name = pathname === "/" ? "index.html" : pathname.slice("/assets/".length);
  if (!/^[a-z0-9-]+\.(html|js|css)$/.test(name)) return null;
  const file = embeddedPath("dashboard", name);
  if (!existsSync(file)) return null;
  return new Response(readFileSync(file), { headers: { "content-type": TYPES[name.split(".").pop()!]!, "cache-control": "no-cache" } });
}
