# Reference values of R Matching::Match (ATT, matching with replacement on a logit score, ties kept) for
# tests/test_matching_r.py.  Run from this folder: Rscript make_reference.R  (writes matching_values.json)
suppressPackageStartupMessages({library(Matching); library(jsonlite)})
d <- read.csv("firms.csv")
run <- function(x, M, caliper = NULL, J = 1, tol = 0) {
  args <- list(Y = d$y, Tr = d$d, X = d[[x]], estimand = "ATT", M = M, ties = TRUE, replace = TRUE,
               Var.calc = J, distance.tolerance = tol)
  if (!is.null(caliper)) args$caliper <- caliper
  m <- do.call(Match, args)
  list(score = x, M = M, caliper = if (is.null(caliper)) NA else caliper, var_calc = J,
       distance_tolerance = tol, estimate = unname(m$est[1, 1]), std_error = unname(m$se),
       n_dropped = m$ndrops, n_pairs = length(m$index.treated))
}
out <- list(
  r_version = R.version.string,
  matching_version = as.character(packageVersion("Matching")),
  m1 = run("lg", 1),
  m3 = run("lg", 3),
  ties_m1 = run("lg3", 1),
  ties_m2 = run("lg3", 2),
  m1_j2 = run("lg", 1, J = 2),
  m3_j3 = run("lg", 3, J = 3),
  m1_caliper = run("lg", 1, caliper = 0.2),
  m3_caliper = run("lg", 3, caliper = 0.05),
  ties_caliper = run("lg3", 1, caliper = 0.2),
  m1_default_tolerance = run("lg", 1, tol = 1e-5)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "matching_values.json")
