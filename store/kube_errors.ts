/**
 * Typed errors of the Kubernetes API: a `Status` object (or a bare HTTP status) becomes one of
 * these, so callers branch on the class, never on message text.
 *
 * @module
 */
import { StoreError } from "./errors.ts";

/** What a failed request was: verb and resource, for messages ("patch nodes node1"). */
export interface KubeRequestInfo {
  /** Kubernetes verb: get, list, watch, create, patch, update, delete. */
  verb: string;
  /** Resource (plural), e.g. "nodes", "leases.coordination.k8s.io". */
  resource: string;
  /** Object name, when the request names one. */
  name?: string;
  /** Namespace, for namespaced resources. */
  namespace?: string;
}

/** The fields of a Kubernetes `Status` that skein reads. */
export interface KubeStatus {
  code: number;
  reason?: string;
  message?: string;
}

/** Any error answer of the apiserver (the base of the typed ones below). */
export class KubeApiError extends StoreError {
  constructor(
    readonly status: KubeStatus,
    readonly request: KubeRequestInfo,
    message?: string,
  ) {
    super(
      message ??
        `${describe(request)}: HTTP ${status.code}${status.reason ? ` ${status.reason}` : ""}${
          status.message ? `: ${status.message}` : ""
        }`,
    );
    this.name = "KubeApiError";
  }
}

/** 409: the object exists (create) or changed since it was read (update with resourceVersion). */
export class KubeConflictError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(status, request);
    this.name = "KubeConflictError";
  }
}

/** 410: the resourceVersion a watch or list asked for is compacted away; list again. */
export class KubeGoneError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(status, request);
    this.name = "KubeGoneError";
  }
}

/** 422: the object was refused by validation (e.g. spec.podCIDR is immutable once set). */
export class KubeInvalidError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(status, request);
    this.name = "KubeInvalidError";
  }
}

/** 403: RBAC does not allow this verb on this resource for skein's identity. */
export class KubeForbiddenError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(
      status,
      request,
      `forbidden: skein may not ${request.verb} ${request.resource}${
        request.name ? ` "${request.name}"` : ""
      }${
        request.namespace ? ` in namespace ${request.namespace}` : " (cluster scope)"
      }; grant that verb in skein's ClusterRole (deploy/kubernetes/skein.yaml)${
        status.message ? ` — apiserver: ${status.message}` : ""
      }`,
    );
    this.name = "KubeForbiddenError";
  }
}

/** 401: the credentials (token, client certificate) were not accepted. */
export class KubeUnauthorizedError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(status, request);
    this.name = "KubeUnauthorizedError";
  }
}

/** 404: no such object. */
export class KubeNotFoundError extends KubeApiError {
  constructor(status: KubeStatus, request: KubeRequestInfo) {
    super(status, request);
    this.name = "KubeNotFoundError";
  }
}

/**
 * The typed error for an apiserver answer: `body` is the response text (a `Status` object when
 * the apiserver made it; anything else is kept as the message).
 */
export function kubeError(
  httpStatus: number,
  body: string,
  request: KubeRequestInfo,
): KubeApiError {
  const status = parseStatus(httpStatus, body);
  switch (status.code) {
    case 401:
      return new KubeUnauthorizedError(status, request);
    case 403:
      return new KubeForbiddenError(status, request);
    case 404:
      return new KubeNotFoundError(status, request);
    case 409:
      return new KubeConflictError(status, request);
    case 410:
      return new KubeGoneError(status, request);
    case 422:
      return new KubeInvalidError(status, request);
    default:
      return new KubeApiError(status, request);
  }
}

/** A `Status` from a response body (or a watch ERROR event's object); falls back to the HTTP code. */
export function parseStatus(httpStatus: number, body: string | unknown): KubeStatus {
  let v: unknown = body;
  if (typeof body === "string") {
    try {
      v = JSON.parse(body);
    } catch {
      return { code: httpStatus, message: body.slice(0, 500) || undefined };
    }
  }
  if (typeof v !== "object" || v === null) return { code: httpStatus };
  const o = v as Record<string, unknown>;
  const code = typeof o.code === "number" && o.code >= 100 && o.code < 600 ? o.code : httpStatus;
  return {
    code,
    reason: typeof o.reason === "string" ? o.reason : undefined,
    message: typeof o.message === "string" ? o.message.slice(0, 1000) : undefined,
  };
}

function describe(r: KubeRequestInfo): string {
  return `kubernetes ${r.verb} ${r.resource}${r.name ? ` "${r.name}"` : ""}${
    r.namespace ? ` in ${r.namespace}` : ""
  }`;
}
