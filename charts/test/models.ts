import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Ingress, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import type { Manifest } from "./helm.js";

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): { validate(): void };
}

/**
 * Every kind the chart may render, with the model that validates it (the Kubernetes OpenAPI schema, or
 * the prometheus-operator or Gateway API CRD schema). A kind missing here fails the test: add its model deliberately.
 */
const MODELS: readonly ModelClass[] = [
  ConfigMap,
  Secret,
  Service,
  ServiceAccount,
  Pod,
  Deployment,
  StatefulSet,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  NetworkPolicy,
  Ingress,
  HTTPRoute,
  ServiceMonitor,
  PrometheusRule,
];

const byType = new Map(MODELS.map((m) => [`${m.apiVersion}/${m.kind}`, m]));

/** Validates one manifest against its schema; throws naming the object and every violation. */
export function validateManifest(m: Manifest): void {
  const Model = byType.get(`${m.apiVersion}/${m.kind}`);
  if (Model === undefined) {
    throw new Error(
      `${m.apiVersion} ${m.kind} "${m.metadata.name}" has no schema model in charts/test/models.ts: add one or do not render it`,
    );
  }
  try {
    new Model(m as never).validate();
  } catch (err) {
    throw new Error(`${m.kind} "${m.metadata.name}" is invalid: ${(err as Error).message}`);
  }
}

export function knownKinds(): string[] {
  return [...byType.keys()];
}
