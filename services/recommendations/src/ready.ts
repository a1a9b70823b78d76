// Readiness as the Go services have it (internal/sidecar.Checker): the
// sidecar's outbound health endpoint answers, and, when the app holds a
// token, the sidecar has once refused a call without it (a daprd started
// without DAPR_API_TOKEN would serve any local process).
import type { SidecarConfig } from "./sidecar.js";
import { SidecarError } from "./sidecar.js";

export function newReadiness(cfg: SidecarConfig, fetchFn: typeof fetch = fetch): () => Promise<void> {
  const base = `http://${cfg.host}:${cfg.httpPort}`;
  let guarded = false;
  return async () => {
    const health = await call(fetchFn, `${base}/v1.0/healthz/outbound`);
    if (health >= 300) throw new SidecarError(`the sidecar's outbound health is ${health}`, health);
    if (cfg.apiToken === "" || guarded) return;
    const meta = await call(fetchFn, `${base}/v1.0/metadata`);
    if (meta === 401) {
      guarded = true;
      return;
    }
    if (meta === 200) {
      throw new SidecarError("the sidecar answers without DAPR_API_TOKEN: start daprd with it in its environment (make run does; for dapr run -f, source the file make infra writes)", 200);
    }
    throw new SidecarError(`sidecar metadata without a token: status ${meta}`, meta);
  };
}

async function call(fetchFn: typeof fetch, url: string): Promise<number> {
  try {
    const res = await fetchFn(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    throw new SidecarError(`the sidecar is not reachable: ${(err as Error).message}`, 0);
  }
}
