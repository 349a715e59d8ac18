# Reference values for rct(..., takeup=): the effect on users by IV with the same variance as the ITT.
# Run from this folder: Rscript make_reference.R   (writes estimatr_values.json)
suppressPackageStartupMessages({library(estimatr); library(jsonlite)})
d <- read.csv("trial.csv")
d$xc <- d$x - mean(d$x)
one <- function(fit, term) list(estimate = unname(coef(fit)[term]), std_error = unname(fit$std.error[term]))
out <- list(
  r_version = R.version.string,
  estimatr_version = as.character(packageVersion("estimatr")),
  late_hc2 = one(iv_robust(y ~ used | z, data = d, se_type = "HC2"), "used"),
  late_hc3 = one(iv_robust(y ~ used | z, data = d, se_type = "HC3"), "used"),
  late_hc0 = one(iv_robust(y ~ used | z, data = d, se_type = "HC0"), "used"),
  late_hc2_cov = one(iv_robust(y ~ used + xc | z + xc, data = d, se_type = "HC2"), "used"),
  late_hc3_cov = one(iv_robust(y ~ used + xc | z + xc, data = d, se_type = "HC3"), "used"),
  late_cr1 = one(iv_robust(y ~ used | z, data = d, clusters = cl, se_type = "stata"), "used"),
  late_cr1_cov = one(iv_robust(y ~ used + xc | z + xc, data = d, clusters = cl, se_type = "stata"), "used"),
  itt_hc2 = one(lm_robust(y ~ z, data = d, se_type = "HC2"), "z"),
  itt_cr1 = one(lm_robust(y ~ z, data = d, clusters = cl, se_type = "stata"), "z"),
  first_stage_hc2 = one(lm_robust(used ~ z, data = d, se_type = "HC2"), "z")
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "estimatr_values.json")
