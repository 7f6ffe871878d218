// htmx would add its request indicators' styles as an inline <style>, which the admin's
// Content-Security-Policy refuses; they are in console/theme.css instead.
htmx.config.includeIndicatorStyles = false;
