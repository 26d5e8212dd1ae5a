from django import forms


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="What will use it, e.g. 'lab camera script'.")
