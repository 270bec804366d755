# A VPC for private traffic: Cloud SQL's private IP (private services access) and the
# Serverless VPC Access connector the functions use to reach it.

resource "google_compute_network" "main" {
  name                    = "sealy"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_global_address" "private_services" {
  name          = "sealy-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_vpc_access_connector" "main" {
  name          = local.names.vpc_connector
  region        = var.region
  network       = google_compute_network.main.name
  ip_cidr_range = var.vpc_connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3
  depends_on    = [google_project_service.apis]
}

# Nothing in this VPC accepts connections from outside it: deny all ingress explicitly
# (the connector and Cloud SQL's peering need no ingress rule).
resource "google_compute_firewall" "deny_all_ingress" {
  name      = "sealy-deny-all-ingress"
  network   = google_compute_network.main.name
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}
